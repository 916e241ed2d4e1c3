//! `shutdown(immediate)` (Python 3.13) across processes: puts fail, gets
//! drain then fail, `immediate` drops the items and releases `join`, and
//! every blocked put, get and join in any process wakes up.

use mp_process::{Process, StartMethod};
use mp_queue::{Error, JoinableQueue, Queue, QueueBuilder};
use mp_testkit::deadline;
use serde_bytes::ByteBuf;

use crate::{SECS, T, asleep};

fn put_then_shut_down(q: Queue<u32>, immediate: bool) {
    for n in [1, 2, 3] {
        q.put_timeout(&n, T).unwrap();
    }
    q.shutdown(immediate);
}

/// Starts `p`, returns its pid.
fn started(mut p: Process) -> (Process, u32) {
    p.start().unwrap();
    let pid = p.pid().unwrap();
    (p, pid)
}

fn exits_cleanly(p: Process, what: &str) {
    assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{what}");
}

#[test]
fn a_shutdown_in_one_process_stops_puts_and_lets_gets_drain_in_another() {
    let _d = deadline(60 * SECS);
    for m in [StartMethod::Forkserver, StartMethod::Spawn] {
        let q: Queue<u32> = Queue::new().unwrap();
        let p = Process::new(put_then_shut_down, (q.clone(), false)).start_method(m);
        let (p, _) = started(p);
        exits_cleanly(p, "producer");
        assert!(q.is_shut_down(), "{m}");
        assert!(matches!(q.put(&4), Err(Error::ShutDown)), "{m}");
        assert!(matches!(q.try_put(&4), Err(Error::ShutDown)), "{m}");
        let got: Vec<u32> = (0..3).map(|_| q.get_timeout(T).unwrap()).collect();
        assert_eq!(got, [1, 2, 3], "{m}");
        // Empty and shut down: `get` fails at once instead of waiting.
        assert!(matches!(q.get(), Err(Error::ShutDown)), "{m}");
        assert!(matches!(q.try_get(), Err(Error::ShutDown)), "{m}");
    }
}

#[test]
fn an_immediate_shutdown_in_another_process_drops_the_items() {
    let _d = deadline(30 * SECS);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    q.put(&0).unwrap();
    let p = Process::new(put_then_shut_down, (Queue::clone(&q), true));
    let (p, _) = started(p);
    exits_cleanly(p, "producer");
    // The child's puts were plain `Queue` puts: only this one is a task.
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(q.qsize(), 0);
    assert!(matches!(q.get(), Err(Error::ShutDown)));
    assert!(matches!(q.task_done(), Err(Error::TooManyTaskDone)));
    q.join_timeout(T).unwrap();
}

fn ready_then_get(q: Queue<u32>, ready: Queue<()>) {
    ready.put(&()).unwrap();
    // Blocks (no timeout) until the parent shuts the queue down.
    match q.get() {
        Err(Error::ShutDown) => {}
        other => panic!("a blocked get ended with {other:?}"),
    }
}

fn ready_then_put(q: Queue<u32>, ready: Queue<()>) {
    ready.put(&()).unwrap();
    // The queue is full: blocks until the parent shuts it down.
    match q.put(&2) {
        Err(Error::ShutDown) => {}
        other => panic!("a blocked put ended with {other:?}"),
    }
}

fn ready_then_stream(q: Queue<ByteBuf>, ready: Queue<()>) {
    ready.put(&()).unwrap();
    // Far larger than the ring, and no consumer: streams until it blocks.
    match q.put(&ByteBuf::from(vec![7u8; 1 << 20])) {
        Err(Error::ShutDown) => {}
        other => panic!("a blocked streaming put ended with {other:?}"),
    }
}

fn ready_then_join(q: JoinableQueue<u32>, ready: Queue<()>) {
    ready.put(&()).unwrap();
    q.join().unwrap();
}

/// Starts the process `make(ready)` makes and waits until it is ready
/// and sleeps in its queue call.
fn blocked(make: impl FnOnce(Queue<()>) -> Process) -> Process {
    let ready: Queue<()> = Queue::new().unwrap();
    let (p, pid) = started(make(ready.clone()));
    ready.get_timeout(T).unwrap();
    asleep(pid);
    p
}

#[test]
fn blocked_gets_and_puts_in_other_processes_wake_with_shut_down() {
    let _d = deadline(60 * SECS);
    for immediate in [false, true] {
        let empty: Queue<u32> = Queue::new().unwrap();
        let getter = blocked(|ready| Process::new(ready_then_get, (empty.clone(), ready)));
        empty.shutdown(immediate);
        exits_cleanly(getter, "blocked get");

        let full: Queue<u32> = Queue::with_maxsize(1).unwrap();
        full.put(&1).unwrap();
        let putter = blocked(|ready| Process::new(ready_then_put, (full.clone(), ready)));
        full.shutdown(immediate);
        exits_cleanly(putter, "blocked put");
        if immediate {
            assert!(matches!(full.get(), Err(Error::ShutDown)));
        } else {
            assert_eq!(full.get_timeout(T).unwrap(), 1);
            assert!(matches!(full.get(), Err(Error::ShutDown)));
        }
    }
}

/// A put streaming a message larger than the ring gives up when the
/// queue shuts down; the consumer drops its chunks and sees no item.
#[test]
fn a_blocked_streaming_put_gives_up_and_leaves_no_item() {
    let _d = deadline(30 * SECS);
    for immediate in [false, true] {
        let q: Queue<ByteBuf> = QueueBuilder::new().ring_size(1 << 16).build().unwrap();
        let streamer = blocked(|ready| Process::new(ready_then_stream, (q.clone(), ready)));
        q.shutdown(immediate);
        exits_cleanly(streamer, "streaming put");
        assert!(
            matches!(q.get(), Err(Error::ShutDown)),
            "immediate: {immediate}"
        );
        assert_eq!(q.torn(), 0);
    }
}

#[test]
fn an_immediate_shutdown_releases_a_join_in_another_process() {
    let _d = deadline(30 * SECS);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    for n in 0..5 {
        q.put(&n).unwrap();
    }
    let joiner = blocked(|ready| Process::new(ready_then_join, (q.clone(), ready)));
    q.shutdown(true);
    exits_cleanly(joiner, "blocked join");
    assert_eq!(q.unfinished_tasks(), 0);
}

/// An item already taken is still a task: `join` waits for its
/// `task_done` (as Python's does), the dropped ones count as done.
#[test]
fn an_immediate_shutdown_leaves_taken_items_unfinished() {
    let _d = deadline(30 * SECS);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    for n in 0..3 {
        q.put(&n).unwrap();
    }
    assert_eq!(q.get().unwrap(), 0);
    q.shutdown(true);
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(matches!(q.join_timeout(SECS / 10), Err(Error::Timeout)));
    q.task_done().unwrap();
    q.join_timeout(T).unwrap();
}

/// `close` is this process's own stop and wins over a shutdown; shutdown
/// reaches handles that did not close.
#[test]
fn close_and_shutdown_are_told_apart() {
    let _d = deadline(30 * SECS);
    let q: Queue<u32> = Queue::new().unwrap();
    q.put(&1).unwrap();
    q.shutdown(false);
    assert!(matches!(q.put(&2), Err(Error::ShutDown)));
    q.close();
    assert!(matches!(q.put(&2), Err(Error::Closed)));
    assert!(matches!(q.get(), Err(Error::Closed)));
    // A second shutdown, now immediate, still drops what is there.
    let other: Queue<u32> = Queue::new().unwrap();
    other.put(&1).unwrap();
    other.shutdown(false);
    other.shutdown(true);
    assert!(matches!(other.get(), Err(Error::ShutDown)));
    assert_eq!(other.qsize(), 0);
}
