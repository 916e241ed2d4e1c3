//! One process: FIFO order, full and empty, bad items, close.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mp_queue::{Error, JoinableQueue, Queue, QueueBuilder, SimpleQueue};
use mp_testkit::deadline;
use serde::Serialize;
use serde_bytes::ByteBuf;

use crate::{SECS, T, spawn_until_asleep};

#[test]
fn fifo_within_one_process() {
    let _d = deadline(10 * SECS);
    let q: Queue<(u32, String)> = Queue::new().unwrap();
    for i in 0..1000 {
        q.put(&(i, format!("item {i}"))).unwrap();
    }
    assert_eq!(q.qsize(), 1000);
    for i in 0..1000 {
        assert_eq!(q.get().unwrap(), (i, format!("item {i}")));
    }
    assert!(q.is_empty());
}

#[test]
fn a_bounded_queue_is_full_and_empty_with_timeouts() {
    let _d = deadline(10 * SECS);
    let q: Queue<u8> = Queue::with_maxsize(2).unwrap();
    assert_eq!(q.maxsize(), Some(2));
    assert!(matches!(q.try_get(), Err(Error::Empty)));
    q.put(&1).unwrap();
    q.try_put(&2).unwrap();
    assert!(q.is_full());
    assert!(matches!(q.try_put(&3), Err(Error::Full)));
    let start = Instant::now();
    assert!(matches!(
        q.put_timeout(&3, Duration::from_millis(200)),
        Err(Error::Full)
    ));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(q.get().unwrap(), 1);
    q.put_timeout(&3, T).unwrap();
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get().unwrap(), 3);
    let start = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(200)),
        Err(Error::Empty)
    ));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(!q.is_full());
}

#[test]
fn a_ring_full_of_bytes_is_full_too() {
    let _d = deadline(10 * SECS);
    let q: Queue<Vec<u8>> = QueueBuilder::new().ring_size(64 << 10).build().unwrap();
    let item = vec![7u8; 10_000];
    let mut n = 0;
    while q.try_put(&item).is_ok() {
        n += 1;
    }
    assert!((5..=7).contains(&n), "{n} items of 10 KB in a 64 KiB ring");
    assert!(matches!(
        q.put_timeout(&item, Duration::from_millis(50)),
        Err(Error::Full)
    ));
    assert_eq!(q.get().unwrap(), item);
    q.try_put(&item).unwrap();
    assert_eq!(q.qsize(), n);
}

/// Items whose bytes look like the chunk headers of a later lap of the
/// ring must not be taken for messages when that lap comes.
#[test]
fn payload_left_from_an_earlier_lap_never_looks_like_a_message() {
    let _d = deadline(10 * SECS);
    const RING: u64 = 4096;
    let q: Queue<ByteBuf> = QueueBuilder::new()
        .ring_size(RING as usize)
        .build()
        .unwrap();
    // Message A: a 16-byte header at ring offset 0, a 2-byte length,
    // then its bytes from offset 18. At every 8-aligned offset `o` it
    // holds `RING + o + 1`: the stream position (plus one) that a chunk
    // starting there on the next lap has.
    let mut a = vec![0u8; 1998];
    for o in (24..2000u64).step_by(8) {
        let at = (o - 18) as usize;
        a[at..at + 8].copy_from_slice(&(RING + o + 1).to_le_bytes());
    }
    q.put(&ByteBuf::from(a.clone())).unwrap();
    assert_eq!(q.get().unwrap().into_vec(), a);
    // B fills the rest of the lap (A took 2016 bytes, B takes 2080), and
    // C (24 bytes) starts the next lap: the next chunk would start at
    // offset 24, where A's bytes still lie.
    q.put(&ByteBuf::from(vec![1u8; 2062])).unwrap();
    assert_eq!(q.get().unwrap().len(), 2062);
    q.put(&ByteBuf::new()).unwrap();
    assert!(q.get().unwrap().is_empty());
    assert!(
        matches!(q.try_get(), Err(Error::Empty)),
        "a phantom message"
    );
    assert_eq!(q.torn(), 0);
    q.put(&ByteBuf::from(vec![2u8; 5])).unwrap();
    assert_eq!(q.get().unwrap().into_vec(), vec![2u8; 5]);
}

#[test]
fn an_item_that_fails_to_encode_changes_nothing() {
    let _d = deadline(10 * SECS);
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }
    let q: Queue<(u32, Option<Refuses>)> = Queue::new().unwrap();
    assert!(matches!(q.put(&(1, Some(Refuses))), Err(Error::Encode(_))));
    assert!(q.is_empty());
    q.put(&(2, None)).unwrap();
    let back: Queue<(u32, Option<()>)> = serde_roundtrip(&q);
    assert_eq!(back.get().unwrap(), (2, None));
}

/// The same queue seen with another item type (what a child with a
/// different signature would do).
fn serde_roundtrip<A, B>(q: &Queue<A>) -> Queue<B> {
    let (bytes, fds) = mp_handle::encode(q).unwrap();
    mp_handle::decode(&bytes, fds).unwrap()
}

#[test]
fn an_item_that_fails_to_decode_is_consumed_and_reported() {
    let _d = deadline(10 * SECS);
    let q: Queue<u64> = Queue::new().unwrap();
    q.put(&u64::MAX).unwrap();
    q.put(&5).unwrap();
    let as_bool: Queue<bool> = serde_roundtrip(&q);
    assert!(matches!(as_bool.get(), Err(Error::Decode(_))));
    assert_eq!(q.get().unwrap(), 5);
}

/// An item of another type is a decode error naming the expected type,
/// not a value read from the item's front (`"hello"` as the u64 5).
#[test]
fn an_item_of_another_type_is_a_decode_error_naming_the_type() {
    let _d = deadline(10 * SECS);
    let q: Queue<String> = Queue::new().unwrap();
    let as_number: Queue<u64> = serde_roundtrip(&q);
    q.put(&"hello".to_owned()).unwrap();
    match as_number.get() {
        Err(Error::Decode(e)) => assert!(e.to_string().contains("`u64`"), "{e}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    q.put(&"next".to_owned()).unwrap();
    assert_eq!(q.get().unwrap(), "next");
}

#[test]
fn close_fails_later_calls_and_wakes_a_blocked_get() {
    let _d = deadline(10 * SECS);
    let q: Queue<u8> = Queue::new().unwrap();
    let q2 = q.clone();
    let blocked = spawn_until_asleep(move || q2.get());
    q.close();
    assert!(matches!(blocked.join().unwrap(), Err(Error::Closed)));
    assert!(matches!(q.put(&1), Err(Error::Closed)));
    assert!(matches!(q.get_timeout(T), Err(Error::Closed)));
}

#[test]
fn close_wakes_producers_waiting_for_room() {
    let _d = deadline(30 * SECS);
    // A small item waiting for a full ring, and a large one streaming.
    for size in [10_000usize, 1 << 20] {
        let q: Queue<ByteBuf> = QueueBuilder::new().ring_size(64 << 10).build().unwrap();
        while q.try_put(&ByteBuf::from(vec![0u8; 10_000])).is_ok() {}
        let q2 = q.clone();
        let start = Instant::now();
        let producer =
            spawn_until_asleep(move || q2.put_timeout(&ByteBuf::from(vec![1u8; size]), T));
        q.close();
        let result = producer.join().unwrap();
        assert!(
            matches!(result, Err(Error::Closed)),
            "{size} bytes: {result:?}"
        );
        assert!(
            start.elapsed() < T / 2,
            "{size} bytes: woken only by the timeout"
        );
    }
}

#[test]
fn simple_and_joinable_queues() {
    let _d = deadline(10 * SECS);
    let s: SimpleQueue<String> = SimpleQueue::new().unwrap();
    assert!(s.is_empty());
    s.put(&"a".into()).unwrap();
    assert_eq!(s.get_timeout(T).unwrap(), "a");
    let j: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    j.put(&1).unwrap();
    j.put(&2).unwrap();
    assert_eq!(j.unfinished_tasks(), 2);
    assert!(matches!(
        j.join_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    j.get().unwrap();
    j.task_done().unwrap();
    j.get().unwrap();
    j.task_done().unwrap();
    j.join_timeout(T).unwrap();
    assert!(matches!(j.task_done(), Err(Error::TooManyTaskDone)));
}

/// A queue holding `item`, and a handle of it encoded: its bytes, its
/// descriptors, and where the queue's memfd is among them.
fn encoded_queue(item: u64) -> (Queue<u64>, Vec<u8>, Vec<OwnedFd>, usize) {
    let q: Queue<u64> = QueueBuilder::new().ring_size(1 << 16).build().unwrap();
    q.put(&item).unwrap();
    let (bytes, fds) = mp_handle::encode(&q).unwrap();
    let at = fds
        .iter()
        .position(|fd| {
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                .is_ok_and(|path| path.to_string_lossy().contains("memfd:mp-queue"))
        })
        .expect("a queue handle carries its memfd");
    (q, bytes, fds, at)
}

/// A handle passes on a duplicate of the queue's memfd, which another
/// process can also reopen through `/proc/<pid>/fd`: neither can resize
/// it under the mappings (shrunk, the next `get` would die of SIGBUS).
#[test]
fn nobody_holding_the_queues_memfd_can_resize_it() {
    let _d = deadline(10 * SECS);
    let (q, _, mut fds, at) = encoded_queue(1);
    let dup = File::from(fds.swap_remove(at));
    let reopened = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", dup.as_raw_fd()))
        .unwrap();
    let size = dup.metadata().unwrap().len();
    for (how, file) in [("the dup", &dup), ("/proc/self/fd", &reopened)] {
        for len in [0, size / 2, size + 4096] {
            let resized = file.set_len(len);
            if resized.is_ok() {
                // Back to its size, so that this fails here, not of SIGBUS.
                file.set_len(size).unwrap();
            }
            assert!(resized.is_err(), "{how}: resized from {size} to {len}");
        }
    }
    assert_eq!(q.get_timeout(T).unwrap(), 1);
}

/// A handle whose memory could be resized (a copy of a queue's bytes in a
/// memfd without the seals) is refused, not mapped.
#[test]
fn a_queue_handle_whose_memory_is_not_sealed_is_refused() {
    let _d = deadline(10 * SECS);
    let (q, bytes, mut fds, at) = encoded_queue(7);
    let copy = rustix::fs::memfd_create("mp-queue", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    std::io::copy(
        &mut File::from(fds[at].try_clone().unwrap()),
        &mut File::from(copy.try_clone().unwrap()),
    )
    .unwrap();
    fds[at] = copy;
    // (postcard keeps no message of a custom error: the type says which.)
    let refused = mp_handle::decode::<Queue<u64>>(&bytes, fds);
    assert!(
        matches!(refused, Err(mp_handle::Error::Decode(_))),
        "a queue on memory anyone could shrink was accepted"
    );
    assert_eq!(q.get_timeout(T).unwrap(), 7);
}
