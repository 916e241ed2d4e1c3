//! `get_async` (feature `tokio`) under tokio's current-thread runtime: one
//! thread, so a get that blocked it would stop every other task (among
//! them the one that makes the item come) and the test would hang until
//! its deadline. Every await has a timeout too.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use mp_pipe::{Connection, pipe};
use mp_process::{Process, StartMethod};
use mp_queue::{Error, JoinableQueue, Queue, QueueBuilder, SimpleQueue};
use mp_testkit::deadline;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{SECS, T, asleep};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap()
}

/// `future`, or a failure after `T` (a lost wake-up shows as this).
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(T, future).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing after {T:?}"),
    }
}

/// Counts milliseconds on the runtime's thread: it only ticks while no
/// task blocks that thread.
fn ticker() -> Arc<AtomicU32> {
    let ticks = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&ticks);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    ticks
}

const ROUNDS: u32 = 6;

/// Answers each request after a pause, so that the get of the answer has
/// to wait.
fn answer_later(requests: Queue<u32>, answers: Queue<u32>) {
    for _ in 0..ROUNDS {
        let n = requests.get_timeout(T).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        answers.put_timeout(&(n + 1), T).unwrap();
    }
}

/// A child process puts while a task awaits `get_async`, under every
/// start method (the doorbell travels in the queue's handle: inherited by
/// fork, sent over the forkserver's socket, passed through re-exec), and
/// meanwhile the runtime's only thread runs another task.
#[test]
fn an_awaited_get_takes_what_a_child_puts_under_every_start_method() {
    let _d = deadline(120 * SECS);
    for m in StartMethod::ALL {
        let (requests, answers) = (Queue::new().unwrap(), Queue::new().unwrap());
        let mut p = Process::new(answer_later, (requests.clone(), answers.clone())).start_method(m);
        p.start().unwrap();
        current_thread().block_on(async {
            let ticks = ticker();
            for i in 0..ROUNDS {
                requests.put(&i).unwrap();
                let before = ticks.load(Ordering::Relaxed);
                let got = within(&format!("{m}: round {i}"), answers.get_async()).await;
                assert_eq!(got.unwrap(), i + 1, "{m}");
                let ticked = ticks.load(Ordering::Relaxed) - before;
                // The answer takes 30 ms: a get that held the thread
                // would have let no tick through.
                assert!(
                    ticked >= 2,
                    "{m}: round {i}: {ticked} ticks during the wait"
                );
            }
        });
        assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
    }
}

/// The item comes from a task of the same runtime, after it ticked for a
/// while: only a get that gives the thread back lets it run.
#[test]
fn the_runtime_stays_responsive_while_a_get_waits() {
    let _d = deadline(60 * SECS);
    let q: Queue<String> = Queue::new().unwrap();
    let simple: SimpleQueue<u32> = SimpleQueue::new().unwrap();
    let joinable: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    current_thread().block_on(async {
        let ticks = ticker();
        let producer = {
            let (q, simple, joinable) = (q.clone(), simple.clone(), joinable.clone());
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                while ticks.load(Ordering::Relaxed) < 50 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                q.put(&"after 50 ticks".to_string()).unwrap();
                simple.put(&7).unwrap();
                joinable.put(&8).unwrap();
            })
        };
        let got = within("get", q.get_async()).await.unwrap();
        assert_eq!(got, "after 50 ticks");
        assert!(ticks.load(Ordering::Relaxed) >= 50);
        assert_eq!(within("simple", simple.get_async()).await.unwrap(), 7);
        assert_eq!(within("joinable", joinable.get_async()).await.unwrap(), 8);
        joinable.task_done().unwrap();
        producer.await.unwrap();
    });
}

const N: u32 = 20_000;
/// Ends a consumer's loop (one per consumer).
const STOP: u32 = u32::MAX;

/// Puts `0..N` with a pause now and then (so that consumers fall asleep
/// and are woken), then one `STOP` per consumer.
fn produce(q: Queue<u32>, consumers: u32) {
    for i in 0..N {
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        q.put_timeout(&i, T).unwrap();
    }
    for _ in 0..consumers {
        q.put_timeout(&STOP, T).unwrap();
    }
}

/// A blocking consumer: gets until `STOP`, then reports what it got.
fn consume_blocking(q: Queue<u32>, report: Connection) {
    let mut got = Vec::new();
    loop {
        match q.get_timeout(T).unwrap() {
            STOP => break,
            i => got.push(i),
        }
    }
    report.send(&got).unwrap();
}

/// Two tasks awaiting in one runtime and a blocking get in another
/// process share one producer's items: each consumer gets them in the
/// producer's order, and together they get every item exactly once.
#[test]
fn awaiting_and_blocking_consumers_get_every_item_once_in_order() {
    let _d = deadline(120 * SECS);
    let q: Queue<u32> = QueueBuilder::new().ring_size(16 << 10).build().unwrap();
    let (report, report_w) = pipe().unwrap();
    let mut blocking = Process::new(consume_blocking, (q.clone(), report_w));
    blocking.start().unwrap();
    let mut producer = Process::new(produce, (q.clone(), 3));
    producer.start().unwrap();
    let mut lists: Vec<Vec<u32>> = current_thread().block_on(async {
        let tasks: Vec<_> = (0..2)
            .map(|c| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        match within(&format!("consumer {c}"), q.get_async()).await {
                            Ok(STOP) => return got,
                            Ok(i) => got.push(i),
                            Err(e) => panic!("consumer {c}: {e}"),
                        }
                    }
                })
            })
            .collect();
        let mut lists = Vec::new();
        for task in tasks {
            lists.push(task.await.unwrap());
        }
        lists
    });
    lists.push(report.recv_timeout(T).unwrap());
    assert_eq!(producer.join_timeout(T).unwrap(), Some(0));
    assert_eq!(blocking.join_timeout(T).unwrap(), Some(0));
    for (c, list) in lists.iter().enumerate() {
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "consumer {c} got items out of order"
        );
    }
    let mut all: Vec<u32> = lists.concat();
    all.sort_unstable();
    assert_eq!(all.len(), N as usize, "items lost or doubled");
    assert!(all.iter().copied().eq(0..N), "items lost or doubled");
    assert!(q.is_empty());
}

fn produce_with_pauses(q: Queue<u32>, n: u32) {
    for i in 0..n {
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_micros(u64::from(i % 7) * 500));
        }
        q.put_timeout(&i, T).unwrap();
    }
}

/// Gets given up part way (timeouts from 0 to 2 ms, against pauses of the
/// producer up to 3 ms, drop the future while it waits, some just as the
/// doorbell rings) lose nothing: the items arrive in order, none missing.
#[test]
fn a_dropped_get_loses_nothing() {
    let _d = deadline(120 * SECS);
    let q: Queue<u32> = Queue::new().unwrap();
    // First, deterministically: a get that waited and was dropped.
    current_thread().block_on(async {
        let gave_up = tokio::time::timeout(Duration::from_millis(20), q.get_async()).await;
        assert!(gave_up.is_err(), "nothing was there");
    });
    q.put(&41).unwrap();
    assert_eq!(q.try_get().unwrap(), 41);
    // Then racing a producer in another process.
    let n = 3_000;
    let mut p = Process::new(produce_with_pauses, (q.clone(), n));
    p.start().unwrap();
    let (got, dropped) = current_thread().block_on(async {
        let (mut got, mut dropped) = (Vec::new(), 0u32);
        let mut i = 0u64;
        while got.len() < n as usize {
            i += 1;
            let patience = Duration::from_micros(i * 37 % 2000);
            match tokio::time::timeout(patience, q.get_async()).await {
                Ok(item) => got.push(item.unwrap()),
                Err(_) => dropped += 1,
            }
            assert!(i < 10_000_000, "no progress");
        }
        (got, dropped)
    });
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    assert!(
        got.iter().copied().eq(0..n),
        "items lost, doubled or reordered"
    );
    assert!(dropped > 0, "no get was dropped while it waited");
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

/// Puts `before` items, then sleeps until killed.
fn put_then_hang(q: Queue<u32>, before: u32) {
    for i in 0..before {
        q.put_timeout(&i, T).unwrap();
    }
    std::thread::sleep(10 * T);
}

/// Streams one message four times the ring's size; a consumer must take
/// part of it before the rest fits, so it is killed part way.
fn stream_big(q: Queue<Vec<u8>>) {
    q.put_timeout(&vec![5u8; 256 << 10], 10 * T).unwrap();
}

/// A producer killed with SIGKILL: what it put arrives; then an awaited
/// get waits as a blocking one would (its timeout fires, nothing hangs),
/// a message it was streaming is reported torn, as `get` reports it, and
/// the queue goes on.
#[test]
fn a_killed_producer_leaves_an_awaited_get_where_get_would_be() {
    let _d = deadline(120 * SECS);
    let rt = current_thread();
    // Killed between puts.
    let q: Queue<u32> = Queue::new().unwrap();
    let mut p = Process::new(put_then_hang, (q.clone(), 3));
    p.start().unwrap();
    rt.block_on(async {
        for i in 0..3 {
            assert_eq!(
                within("put before the kill", q.get_async()).await.unwrap(),
                i
            );
        }
    });
    p.kill().unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
    rt.block_on(async {
        let late = tokio::time::timeout(Duration::from_millis(200), q.get_async()).await;
        assert!(late.is_err(), "got {late:?} from a dead producer");
    });
    assert!(matches!(
        q.get_timeout(Duration::from_millis(50)),
        Err(Error::Empty)
    ));
    // Killed in the middle of a streamed message.
    let q: Queue<Vec<u8>> = QueueBuilder::new().ring_size(64 << 10).build().unwrap();
    let mut p = Process::new(stream_big, (q.clone(),));
    p.start().unwrap();
    // It fills the ring, then sleeps waiting for room.
    asleep(p.pid().unwrap());
    p.kill().unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
    rt.block_on(async {
        let torn = within("a torn stream", q.get_async()).await;
        assert!(matches!(torn, Err(Error::Torn)), "got {torn:?}");
        let late = tokio::time::timeout(Duration::from_millis(200), q.get_async()).await;
        assert!(late.is_err(), "got {late:?} after the torn message");
        // The queue goes on.
        let q2 = q.clone();
        std::thread::spawn(move || q2.put_timeout(&vec![1u8; 10], T).unwrap());
        assert_eq!(within("after", q.get_async()).await.unwrap(), vec![1u8; 10]);
    });
    assert_eq!(q.torn(), 1);
}

fn shut_down_later(q: Queue<u32>) {
    std::thread::sleep(Duration::from_millis(50));
    q.shutdown(false);
}

/// A shutdown in another process ends an awaited get as it ends a blocking
/// one; a close in this process too.
#[test]
fn shutdown_and_close_end_an_awaited_get() {
    let _d = deadline(60 * SECS);
    let rt = current_thread();
    let q: Queue<u32> = Queue::new().unwrap();
    let mut p = Process::new(shut_down_later, (q.clone(),));
    p.start().unwrap();
    rt.block_on(async {
        let got = within("shutdown", q.get_async()).await;
        assert!(matches!(got, Err(Error::ShutDown)), "got {got:?}");
    });
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    let q: Queue<u32> = Queue::new().unwrap();
    rt.block_on(async {
        let closer = {
            let q = q.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                q.close();
            })
        };
        let got = within("close", q.get_async()).await;
        assert!(matches!(got, Err(Error::Closed)), "got {got:?}");
        closer.await.unwrap();
    });
}

/// Set in a consumer that decodes slowly.
static SLOW_DECODE: AtomicBool = AtomicBool::new(false);

/// An item whose decoding takes 100 ms where `SLOW_DECODE` is set: a get
/// holds the consumers' turn that long.
#[derive(Debug, Serialize)]
struct Slow(u32);

impl<'de> Deserialize<'de> for Slow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Slow, D::Error> {
        let n = u32::deserialize(deserializer)?;
        if SLOW_DECODE.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Slow(n))
    }
}

/// A blocking consumer that waits for one item in the consumers' turn and
/// keeps that turn 100 ms longer (decoding it).
fn take_slowly(q: Queue<Slow>, report: Connection) {
    SLOW_DECODE.store(true, Ordering::Relaxed);
    let got = q.get_timeout(T).unwrap();
    report.send(&got.0).unwrap();
}

/// An awaited get that finds the consumers' turn taken is woken when that
/// turn ends. Here a blocking get in another process holds the turn,
/// first waiting for data, then decoding the first of two items put back
/// to back (the second put rings nobody: the first one's wake-up took the
/// announced sleep, and the awaiting task, on the same thread as the
/// producer, could not announce again in between); only the end of that
/// turn can wake the awaiting task for the second item.
#[test]
fn an_awaited_get_that_met_another_consumers_turn_is_woken_when_it_ends() {
    let _d = deadline(60 * SECS);
    let q: Queue<Slow> = Queue::new().unwrap();
    let (report, report_w) = pipe().unwrap();
    let mut b = Process::new(take_slowly, (q.clone(), report_w));
    b.start().unwrap();
    // Waiting for data, in the consumers' turn.
    asleep(b.pid().unwrap());
    current_thread().block_on(async {
        let awaiting = {
            let q = q.clone();
            tokio::spawn(async move { within("the second item", q.get_async()).await })
        };
        // Let it try (the turn is taken) and await.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!awaiting.is_finished());
        q.put(&Slow(1)).unwrap();
        q.put(&Slow(2)).unwrap();
        assert_eq!(awaiting.await.unwrap().unwrap().0, 2);
    });
    assert_eq!(report.recv_timeout::<u32>(T).unwrap(), 1);
    assert_eq!(b.join_timeout(T).unwrap(), Some(0));
}
