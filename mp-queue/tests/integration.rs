//! mp-queue across real processes.

use std::time::{Duration, Instant};

use mp_pipe::{Connection, pipe};
use mp_process::{Process, StartMethod, spawn};
use mp_queue::{Error, JoinableQueue, Queue, QueueBuilder, SimpleQueue};
use mp_testkit::deadline;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

const SECS: Duration = Duration::from_secs(1);
const T: Duration = Duration::from_secs(20);

mod basics {
    use super::*;

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
        let blocked = std::thread::spawn(move || q2.get());
        std::thread::sleep(Duration::from_millis(100));
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
                std::thread::spawn(move || q2.put_timeout(&ByteBuf::from(vec![1u8; size]), T));
            std::thread::sleep(Duration::from_millis(200));
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
}

mod processes {
    use super::*;

    fn square_list(numbers: Vec<u32>, q: Queue<u32>) {
        for n in numbers {
            q.put(&(n * n)).unwrap();
        }
    }

    #[test]
    fn a_queue_is_a_child_argument_under_every_start_method() {
        let _d = deadline(30 * SECS);
        for m in StartMethod::ALL {
            let q = Queue::new().unwrap();
            let mut p = Process::new(square_list, (vec![1, 2, 3, 4], q.clone())).start_method(m);
            p.start().unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(0));
            let got: Vec<u32> = (0..4).map(|_| q.get_timeout(T).unwrap()).collect();
            assert_eq!(got, [1, 4, 9, 16], "{m}");
            assert!(q.is_empty());
        }
    }

    /// Pauses around the waiters' spin time (20 µs): some gets find the
    /// item while spinning, others fall asleep just before it is put.
    fn pause(i: u32) {
        let micros = [0, 5, 15, 25, 40, 80, 200][i as usize % 7];
        if micros > 0 {
            std::thread::sleep(Duration::from_micros(micros));
        }
    }

    const ROUND_TRIPS: u32 = 700;

    fn echo_with_pauses(requests: Queue<u32>, replies: Queue<u32>) {
        for i in 0..ROUND_TRIPS {
            let n = requests.get_timeout(T).unwrap();
            pause(i * 3);
            replies.put(&(n + 1)).unwrap();
        }
    }

    fn ping_pong(requests: &Queue<u32>, replies: &Queue<u32>, what: &str) {
        for i in 0..ROUND_TRIPS {
            pause(i);
            requests.put(&i).unwrap();
            // A lost wake-up would leave this get asleep for its whole
            // sleep slice (an hour): the timeout turns that into a failure.
            match replies.get_timeout(5 * SECS) {
                Ok(n) => assert_eq!(n, i + 1, "{what}"),
                Err(e) => panic!("{what}: round trip {i}: {e}"),
            }
        }
    }

    /// Waiters that fall asleep are always woken: under every start method,
    /// and in a forked child that inherited the queue (and the parent's
    /// wake-up set-up) by capture.
    #[test]
    fn wakeups_are_never_lost_under_any_start_method() {
        let _d = deadline(120 * SECS);
        for m in StartMethod::ALL {
            let (requests, replies) = (Queue::new().unwrap(), Queue::new().unwrap());
            let mut p =
                Process::new(echo_with_pauses, (requests.clone(), replies.clone())).start_method(m);
            p.start().unwrap();
            ping_pong(&requests, &replies, &m.to_string());
            assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        }
        let (requests, replies) = (Queue::new().unwrap(), Queue::new().unwrap());
        // This process has put and been woken before it forks.
        requests.put(&0).unwrap();
        assert_eq!(requests.get().unwrap(), 0);
        let mut p = Process::from_closure({
            let (requests, replies) = (requests.clone(), replies.clone());
            move || echo_with_pauses(requests, replies)
        });
        p.start().unwrap();
        ping_pong(&requests, &replies, "a captured queue in a forked child");
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    }

    fn put_many_and_exit(q: Queue<u64>, n: u64) {
        for i in 0..n {
            q.put(&i).unwrap();
        }
    }

    #[test]
    fn joining_a_producer_before_draining_neither_deadlocks_nor_loses_items() {
        let _d = deadline(60 * SECS);
        let q: Queue<u64> = Queue::new().unwrap();
        let mut p = Process::new(put_many_and_exit, (q.clone(), 200_000));
        p.start().unwrap();
        // CPython deadlocks here once the items outgrow a 64 KiB pipe.
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        assert_eq!(q.qsize(), 200_000);
        for i in 0..200_000 {
            assert_eq!(q.try_get().unwrap(), i);
        }
        assert!(matches!(q.try_get(), Err(Error::Empty)));
    }

    fn stream_big(q: Queue<ByteBuf>, len: usize) {
        let big: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        q.put(&ByteBuf::from(big)).unwrap();
        q.put(&ByteBuf::from(vec![1, 2, 3])).unwrap();
    }

    #[test]
    fn a_256_mib_message_streams_through_a_16_mib_ring() {
        let _d = deadline(120 * SECS);
        let len = 256 << 20;
        let q: Queue<ByteBuf> = Queue::new().unwrap();
        let mut p = Process::new(stream_big, (q.clone(), len));
        p.start().unwrap();
        let big = q.get_timeout(T).unwrap();
        assert_eq!(big.len(), len);
        assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        drop(big);
        assert_eq!(q.get_timeout(T).unwrap().as_slice(), [1, 2, 3]);
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        assert_eq!(q.torn(), 0);
    }

    fn stream_vec(q: Queue<Vec<u8>>, len: usize) {
        q.put(&(0..len).map(|i| (i % 13) as u8).collect()).unwrap();
    }

    #[test]
    fn a_plain_vec_larger_than_the_ring_streams_too() {
        // serde sends a Vec<u8> byte by byte: the streaming path must take that.
        let _d = deadline(60 * SECS);
        let q: Queue<Vec<u8>> = QueueBuilder::new().ring_size(64 << 10).build().unwrap();
        let mut p = Process::new(stream_vec, (q.clone(), 4 << 20));
        p.start().unwrap();
        let got = q.get_timeout(T).unwrap();
        assert_eq!(got.len(), 4 << 20);
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 13) as u8));
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    }

    fn work(tasks: JoinableQueue<u32>, results: Queue<u32>) {
        loop {
            let task = tasks.get().unwrap();
            if task == u32::MAX {
                tasks.task_done().unwrap();
                return;
            }
            results.put(&(task * 2)).unwrap();
            tasks.task_done().unwrap();
        }
    }

    #[test]
    fn a_joinable_queue_with_four_workers() {
        let _d = deadline(60 * SECS);
        let tasks: JoinableQueue<u32> = JoinableQueue::new().unwrap();
        let results: Queue<u32> = Queue::new().unwrap();
        let workers: Vec<Process> = (0..4)
            .map(|_| {
                let mut p = Process::new(work, (tasks.clone(), results.clone()));
                p.start().unwrap();
                p
            })
            .collect();
        for t in 0..1000 {
            tasks.put(&t).unwrap();
        }
        tasks.join_timeout(T).unwrap();
        assert_eq!(tasks.unfinished_tasks(), 0);
        let mut got: Vec<u32> = (0..1000).map(|_| results.get_timeout(T).unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..1000).map(|t| t * 2).collect::<Vec<_>>());
        for _ in &workers {
            tasks.put(&u32::MAX).unwrap();
        }
        for w in &workers {
            assert_eq!(w.join_timeout(T).unwrap(), Some(0));
        }
    }

    fn idle_get_cpu_ticks(q: Queue<u8>) -> u64 {
        let _ = q.get_timeout(Duration::from_millis(500));
        cpu_ticks()
    }

    fn cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    #[test]
    fn a_blocked_get_sleeps_instead_of_burning_cpu() {
        let _d = deadline(30 * SECS);
        let q: Queue<u8> = Queue::new().unwrap();
        let before = spawn(cpu_ticks, ()).unwrap().join().unwrap();
        let ticks = spawn(idle_get_cpu_ticks, (q,)).unwrap().join().unwrap();
        // Half a second blocked: a busy loop would be ~50 ticks.
        assert!(
            ticks <= before + 5,
            "{ticks} ticks of CPU while idle (baseline {before})"
        );
    }
}

mod many {
    use super::*;

    const PRODUCERS: u32 = 4;
    const CONSUMERS: u32 = 4;
    const PER_PRODUCER: u32 = 1_000_000;

    fn produce(q: Queue<Option<(u32, u32)>>, producer: u32) {
        for seq in 0..PER_PRODUCER {
            q.put(&Some((producer, seq))).unwrap();
        }
    }

    /// Returns, per producer, a bitmap of the items this consumer got;
    /// panics if one producer's items came out of order.
    fn consume(q: Queue<Option<(u32, u32)>>) -> Vec<Vec<u64>> {
        let mut seen = vec![vec![0u64; (PER_PRODUCER as usize).div_ceil(64)]; PRODUCERS as usize];
        let mut last = vec![None::<u32>; PRODUCERS as usize];
        while let Some((producer, seq)) = q.get().unwrap() {
            let p = producer as usize;
            assert!(
                last[p] < Some(seq),
                "producer {p}: {seq} after {:?}",
                last[p]
            );
            last[p] = Some(seq);
            seen[p][seq as usize / 64] |= 1 << (seq % 64);
        }
        seen
    }

    #[test]
    fn four_producers_four_consumers_a_million_items_each_exactly_once_in_order() {
        let _d = deadline(600 * SECS);
        let q: Queue<Option<(u32, u32)>> = Queue::new().unwrap();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| spawn(consume, (q.clone(),)).unwrap())
            .collect();
        let producers: Vec<Process> = (0..PRODUCERS)
            .map(|i| {
                let mut p = Process::new(produce, (q.clone(), i));
                p.start().unwrap();
                p
            })
            .collect();
        for p in &producers {
            assert_eq!(p.join_timeout(Duration::from_secs(500)).unwrap(), Some(0));
        }
        for _ in 0..CONSUMERS {
            q.put(&None).unwrap();
        }
        let maps: Vec<Vec<Vec<u64>>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        for p in 0..PRODUCERS as usize {
            for word in 0..maps[0][p].len() {
                let mut union = 0u64;
                for m in &maps {
                    assert_eq!(
                        union & m[p][word],
                        0,
                        "producer {p}: an item was delivered twice"
                    );
                    union |= m[p][word];
                }
                let bits = (PER_PRODUCER as usize - word * 64).min(64);
                let want = if bits == 64 {
                    u64::MAX
                } else {
                    (1 << bits) - 1
                };
                assert_eq!(union, want, "producer {p}: items lost near {}", word * 64);
            }
        }
        assert_eq!(q.torn(), 0);
        assert!(q.is_empty());
    }
}

mod crashes {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Item {
        id: u32,
        body: Vec<u8>,
    }

    /// Every seventh item is larger than the ring, so some kills land in
    /// the middle of a streamed message.
    fn item(id: u32) -> Item {
        let len = if id % 7 == 3 {
            150_000
        } else {
            (id as usize * 37) % 3000
        };
        Item {
            id,
            body: vec![(id % 256) as u8; len],
        }
    }

    fn check(item: &Item) {
        assert_eq!(
            item,
            &crate::crashes::item(item.id),
            "item {} corrupted",
            item.id
        );
    }

    fn small_ring<T>() -> Queue<T> {
        QueueBuilder::new().ring_size(64 << 10).build().unwrap()
    }

    fn produce_forever(q: Queue<Item>) {
        for id in 0.. {
            q.put(&item(id)).unwrap();
        }
    }

    fn consume_and_report(q: Queue<Item>, report: Connection) {
        loop {
            match q.get() {
                Ok(item) => {
                    check(&item);
                    report.send(&item.id).unwrap();
                }
                Err(Error::Torn) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Drains the queue, checking every item, until it is empty and
    /// `done()` says no more will come; returns the ids and how many torn
    /// messages were met.
    fn drain(q: &Queue<Item>, done: impl Fn() -> bool) -> (Vec<u32>, usize) {
        let mut ids = Vec::new();
        let mut torn = 0;
        loop {
            match q.get_timeout(Duration::from_millis(30)) {
                Ok(item) => {
                    check(&item);
                    ids.push(item.id);
                }
                Err(Error::Torn) => torn += 1,
                Err(Error::Empty) if done() => return (ids, torn),
                Err(Error::Empty) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn pseudo_random(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn a_producer_killed_mid_put_loses_only_that_item() {
        let _d = deadline(300 * SECS);
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for trial in 0..100 {
            let q: Queue<Item> = small_ring();
            let mut p = Process::new(produce_forever, (q.clone(),));
            p.start().unwrap();
            // Let it fill the ring, then take some, then kill it mid-flight.
            let mut ids = Vec::new();
            let take = pseudo_random(&mut seed) % 40;
            while (ids.len() as u64) < take {
                match q.get_timeout(T) {
                    Ok(item) => {
                        check(&item);
                        ids.push(item.id);
                    }
                    Err(Error::Torn) => {}
                    Err(e) => panic!("trial {trial}: {e}"),
                }
            }
            std::thread::sleep(Duration::from_micros(pseudo_random(&mut seed) % 3000));
            p.kill().unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
            let (rest, _torn) = drain(&q, || true);
            ids.extend(rest);
            // A prefix of the items, in order: only the one in flight is lost.
            assert_eq!(
                ids,
                (0..ids.len() as u32).collect::<Vec<_>>(),
                "trial {trial}"
            );
            // And the queue still works.
            q.put(&item(1_000_000)).unwrap();
            assert_eq!(q.get_timeout(T).unwrap(), item(1_000_000), "trial {trial}");
        }
    }

    #[test]
    fn a_consumer_killed_mid_get_loses_only_that_item() {
        let _d = deadline(300 * SECS);
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for trial in 0..100 {
            let q: Queue<Item> = small_ring();
            let total = 60 + (pseudo_random(&mut seed) % 60) as u32;
            let producer = {
                let q = q.clone();
                std::thread::spawn(move || {
                    for id in 0..total {
                        q.put(&item(id)).unwrap();
                    }
                })
            };
            let (reports, report_w) = pipe().unwrap();
            let mut c = Process::new(consume_and_report, (q.clone(), report_w));
            c.start().unwrap();
            std::thread::sleep(Duration::from_micros(pseudo_random(&mut seed) % 5000));
            c.kill().unwrap();
            assert_eq!(c.join_timeout(T).unwrap(), Some(-9));
            let mut ids = Vec::new();
            while let Ok(id) = reports.recv_timeout::<u32>(Duration::from_millis(50)) {
                ids.push(id);
            }
            // The producer may be waiting for room only a consumer makes.
            let (rest, _torn) = drain(&q, || producer.is_finished());
            producer.join().unwrap();
            ids.extend(&rest);
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                ids.len(),
                "trial {trial}: an item was delivered twice"
            );
            let missing: Vec<u32> = (0..total)
                .filter(|id| sorted.binary_search(id).is_err())
                .collect();
            assert!(missing.len() <= 1, "trial {trial}: lost {missing:?}");
        }
    }
}
