//! Messages larger than the ring, in one process: a streamed put that
//! times out or fails part way leaves the queue as if it had not been
//! called, whether or not a consumer was taking it.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use mp_queue::{Error, Queue, QueueBuilder};
use mp_testkit::deadline;
use serde::Serialize;
use serde::ser::{SerializeTuple, Serializer};
use serde_bytes::{ByteBuf, Bytes};

use crate::{SECS, T, spawn_until_asleep};

fn small_ring<A>() -> Queue<A> {
    QueueBuilder::new().ring_size(64 << 10).build().unwrap()
}

fn bytes(byte: u8, len: usize) -> ByteBuf {
    ByteBuf::from(vec![byte; len])
}

#[test]
fn a_put_larger_than_the_ring_that_times_out_leaves_no_trace() {
    let _d = deadline(10 * SECS);
    let q: Queue<ByteBuf> = small_ring();
    q.put(&bytes(1, 10)).unwrap();
    // No consumer: the first chunks fill the ring, then the put runs out
    // of time waiting for room.
    let waited = q.put_timeout(&bytes(2, 1 << 20), Duration::from_millis(100));
    assert!(matches!(waited, Err(Error::Full)), "{waited:?}");
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_timeout(T).unwrap(), bytes(1, 10));
    // Nothing left: not the remains of a message a process died putting.
    let next = q.get_timeout(Duration::from_millis(50));
    assert!(matches!(next, Err(Error::Empty)), "{next:?}");
    assert_eq!(q.torn(), 0);
    q.put(&bytes(3, 10)).unwrap();
    assert_eq!(q.get_timeout(T).unwrap(), bytes(3, 10));
    assert!(q.is_empty());
}

/// `len` bytes, then a field that serializes once and then fails (an
/// error, or a panic): a put sizes an item that does not fit the free
/// space with a counting pass (which the field lets through) before it
/// streams it (where the field fails, after the bytes went out in chunks).
struct FailsPartWay {
    len: usize,
    panics: bool,
    passes: Cell<u32>,
}

impl FailsPartWay {
    fn new(len: usize, panics: bool) -> FailsPartWay {
        FailsPartWay {
            len,
            panics,
            passes: Cell::new(0),
        }
    }
}

impl Serialize for FailsPartWay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(Bytes::new(&vec![5u8; self.len]))?;
        self.passes.set(self.passes.get() + 1);
        match self.passes.get() {
            1 => tuple.end(),
            _ if self.panics => panic!("refused"),
            _ => Err(serde::ser::Error::custom("refused")),
        }
    }
}

/// The same queue seen with another item type.
fn as_type<A, B>(q: &Queue<A>) -> Queue<B> {
    let (bytes, fds) = mp_handle::encode(q).unwrap();
    mp_handle::decode(&bytes, fds).unwrap()
}

/// Streams a [`FailsPartWay`] (panicking or not) while a consumer waits in
/// its get (so that it takes the first chunks as they come), then puts a
/// small item and checks that the consumer gets exactly that, and that
/// nothing counts as torn. Returns what the put returned (or its panic).
fn fail_part_way_while_a_consumer_waits(panics: bool) -> std::thread::Result<mp_queue::Result<()>> {
    let q: Queue<ByteBuf> = small_ring();
    let failing: Queue<FailsPartWay> = as_type(&q);
    let (results, result) = mpsc::channel();
    let consumer = q.clone();
    // Not joined: a consumer that never returns fails the test below.
    let _ = spawn_until_asleep(move || {
        let _ = results.send(consumer.get_timeout(T));
    });
    let item = FailsPartWay::new(200_000, panics);
    let put = std::panic::catch_unwind(AssertUnwindSafe(|| failing.put_timeout(&item, T)));
    assert_eq!(item.passes.get(), 2, "did not fail in the stream");
    q.put(&bytes(3, 10)).unwrap();
    let got = result.recv_timeout(T).expect("the consumer still waits");
    assert_eq!(got.unwrap(), bytes(3, 10));
    assert_eq!(q.torn(), 0);
    assert!(q.is_empty());
    put
}

#[test]
fn an_item_that_fails_to_encode_while_a_consumer_takes_it_is_dropped_silently() {
    let _d = deadline(30 * SECS);
    let put = fail_part_way_while_a_consumer_waits(false);
    assert!(matches!(put, Ok(Err(Error::Encode(_)))), "{put:?}");
}

/// A panic in the middle of a streamed put ends its stream too: the
/// consumer taking it does not wait for the rest forever.
#[test]
fn a_panic_while_an_item_streams_ends_its_stream() {
    let _d = deadline(30 * SECS);
    let put = fail_part_way_while_a_consumer_waits(true);
    assert!(put.is_err(), "{put:?}");
}
