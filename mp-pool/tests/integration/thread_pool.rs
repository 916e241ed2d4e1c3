//! ThreadPool (Python's `multiprocessing.pool.ThreadPool`): the Pool API on
//! threads, with closures and values that are not serde.

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread::ThreadId;

use mp_pool::{Callbacks, ThreadPool};

use super::*;

/// Neither `Serialize` nor `Clone`: only a thread pool can take it.
struct Opaque(Box<dyn Fn(u64) -> u64 + Send + Sync>);

#[test]
fn every_call_of_the_pool_api_runs_closures_on_threads() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = ThreadPool::new(3).unwrap();
    assert_eq!(pool.threads(), 3);
    let factor = Arc::new(Opaque(Box::new(|x| 10 * x)));
    let f = factor.clone();
    assert_eq!(
        pool.map(move |x: u64| (f.0)(x), 0..4u64).unwrap(),
        [0, 10, 20, 30]
    );
    let f = factor.clone();
    assert_eq!(
        pool.map_chunked(move |x: u64| (f.0)(x) + 1, 0..4u64, 3)
            .unwrap(),
        [1, 11, 21, 31]
    );
    // Arguments and values that are not serde.
    let opaque = pool.apply(|| Opaque(Box::new(|x| x + 1)), ()).unwrap();
    assert_eq!((opaque.0)(1), 2);
    let held = pool
        .apply(
            |o: Opaque, x: u64| (o.0)(x),
            (Opaque(Box::new(|x| x * x)), 9),
        )
        .unwrap();
    assert_eq!(held, 81);
    assert_eq!(
        pool.starmap(|a: u64, b: u64| a + b, [(1, 2), (3, 4)])
            .unwrap(),
        [3, 7]
    );
    assert_eq!(
        pool.starmap_chunked(|a: u8| a, [(1,), (2,)], 1).unwrap(),
        [1, 2]
    );
    let async_map = pool.map_async(|x: u64| x + 1, vec![1, 2]).unwrap();
    let async_star = pool
        .starmap_async(|a: u64, b: u64| a * b, vec![(2, 5)])
        .unwrap();
    let async_apply = pool
        .apply_async(|s: &'static str| s.len(), ("four",))
        .unwrap();
    assert_eq!(async_map.get_timeout(secs(10)).unwrap(), [2, 3]);
    assert_eq!(async_star.get_timeout(secs(10)).unwrap(), [10]);
    assert_eq!(async_apply.get_timeout(secs(10)).unwrap(), 4);
    let ordered: Vec<u64> = pool
        .imap_chunked(|x: u64| x * 2, 0..10u64, 3)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ordered, (0..10).map(|x| x * 2).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool
        .imap_unordered(|x: u64| x + 100, 0..10u64)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    unordered.sort_unstable();
    assert_eq!(unordered, (100..110).collect::<Vec<_>>());
    // Lazy: an endless source.
    let first: Vec<u64> = pool
        .imap(|x: u64| x * x, 0u64..)
        .unwrap()
        .take(5)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first, [0, 1, 4, 9, 16]);
    assert_eq!(
        pool.map(|x: u8| x, Vec::<u8>::new()).unwrap(),
        Vec::<u8>::new()
    );
    pool.close();
    pool.join_timeout(secs(10)).unwrap();
}

/// The tasks run at once on distinct threads: `n` tasks that each wait for
/// all `n` finish only if they run side by side.
#[test]
fn tasks_run_in_parallel_on_the_pools_threads() {
    let _d = mp_testkit::deadline(secs(30));
    let pool = ThreadPool::new(4).unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let ids: Vec<ThreadId> = pool
        .map_chunked(
            move |_: u8| {
                barrier.wait();
                std::thread::current().id()
            },
            0..4u8,
            1,
        )
        .unwrap();
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 4);
    assert!(!distinct.contains(&std::thread::current().id()));
}

/// A chunk's items run together, on one thread, in order.
#[test]
fn chunksize_keeps_a_chunks_items_on_one_thread() {
    let _d = mp_testkit::deadline(secs(30));
    let pool = ThreadPool::new(2).unwrap();
    let ids = pool
        .map_chunked(|_: u8| std::thread::current().id(), 0..10u8, 5)
        .unwrap();
    assert!(ids[..5].iter().all(|id| *id == ids[0]));
    assert!(ids[5..].iter().all(|id| *id == ids[5]));
    assert_eq!(
        pool.map_chunked(|x: u8| x, 0..3u8, 0),
        Err(Error::InvalidSetting("chunksize must be at least 1".into()))
    );
    assert!(pool.imap_chunked(|x: u8| x, 0..3u8, 0).is_err());
    assert!(matches!(ThreadPool::new(0), Err(Error::InvalidSetting(_))));
}

/// A panic is that task's error, carrying its message, not wrapped in
/// anything else; `map`'s error is the lowest failing item's; the pool goes on.
#[test]
fn a_panic_is_the_tasks_error_with_its_message() {
    let _d = mp_testkit::deadline(secs(30));
    let pool = ThreadPool::new(2).unwrap();
    let error = pool.apply(|| -> u8 { panic!("no luck") }, ()).unwrap_err();
    assert_eq!(error, Error::Panicked("no luck".into()));
    let fail_odd = |x: u64| {
        if x % 2 == 1 {
            panic!("item {x} failed");
        }
        x
    };
    for _ in 0..5 {
        assert_eq!(
            pool.map_chunked(fail_odd, 0..20u64, 1),
            Err(Error::Panicked("item 1 failed".into()))
        );
    }
    let items: Vec<_> = pool.imap(fail_odd, 0..4u64).unwrap().collect();
    assert_eq!(
        items,
        [
            Ok(0),
            Err(Error::Panicked("item 1 failed".into())),
            Ok(2),
            Err(Error::Panicked("item 3 failed".into()))
        ]
    );
    // A task's own `Result` is its value, as it returned it.
    let own: Result<u8, String> = pool.apply(|| Err::<u8, _>("mine".to_string()), ()).unwrap();
    assert_eq!(own, Err("mine".to_string()));
    assert_eq!(pool.apply(|x: u8| x + 1, (1,)).unwrap(), 2);
}

thread_local! {
    static GREETING: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn the_initializer_runs_once_on_every_thread() {
    let _d = mp_testkit::deadline(secs(30));
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let greeting = String::from("hello"); // initargs, captured
    let pool = ThreadPool::builder()
        .threads(3)
        .initializer(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            GREETING.with(|g| *g.borrow_mut() = Some(greeting.clone()));
        })
        .build()
        .unwrap();
    let seen = pool
        .map_chunked(|_: u8| GREETING.with(|g| g.borrow().clone()), 0..30u8, 1)
        .unwrap();
    assert!(seen.iter().all(|g| g.as_deref() == Some("hello")));
    pool.close();
    pool.join_timeout(secs(10)).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    let broken = ThreadPool::builder()
        .threads(2)
        .initializer(|| panic!("bad setup"))
        .build()
        .unwrap();
    let r = broken.apply(|| 1u8, ());
    // Submitted before or after the pool stopped: the initializer's error.
    assert_eq!(r, Err(Error::Initializer("bad setup".into())));
}

/// Blocks each task until the test lets it go.
fn gate() -> (Arc<Mutex<mpsc::Receiver<()>>>, mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel();
    (Arc::new(Mutex::new(rx)), tx)
}

#[test]
fn close_lets_the_queued_tasks_finish_and_join_waits_for_them() {
    let _d = mp_testkit::deadline(secs(30));
    let pool = ThreadPool::new(1).unwrap();
    assert_eq!(pool.join_timeout(secs(1)), Err(Error::StillRunning));
    let (rx, tx) = gate();
    let result = pool
        .map_async_with(
            move |x: u64| {
                rx.lock().unwrap().recv_timeout(secs(10)).unwrap();
                x
            },
            0..3u64,
            Some(1),
            Callbacks::new(),
        )
        .unwrap();
    pool.close();
    assert_eq!(pool.apply(|| 1u8, ()), Err(Error::Closed));
    assert_eq!(
        pool.join_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    );
    for _ in 0..3 {
        tx.send(()).unwrap();
    }
    pool.join_timeout(secs(10)).unwrap();
    assert_eq!(result.get_timeout(secs(1)).unwrap(), [0, 1, 2]);
}

#[test]
fn terminate_fails_what_is_unfinished_at_once() {
    let _d = mp_testkit::deadline(secs(30));
    let pool = ThreadPool::new(1).unwrap();
    let (rx, tx) = gate();
    let (started_tx, started) = mpsc::channel();
    let running = pool
        .apply_async(
            move || {
                started_tx.send(()).unwrap();
                rx.lock().unwrap().recv_timeout(secs(10)).unwrap();
                7u8
            },
            (),
        )
        .unwrap();
    started.recv_timeout(secs(10)).unwrap();
    let queued = pool.map_async(|x: u64| x, 0..1000u64).unwrap();
    let mut lazy = pool.imap(|x: u64| x, 0..10u64).unwrap();
    let start = Instant::now();
    pool.terminate();
    assert!(start.elapsed() < secs(1));
    assert_eq!(queued.get_timeout(secs(1)), Err(Error::Terminated));
    assert_eq!(running.get_timeout(secs(1)), Err(Error::Terminated));
    assert_eq!(lazy.next_timeout(secs(1)), Some(Err(Error::Terminated)));
    assert_eq!(lazy.next(), None);
    assert_eq!(pool.apply(|| 1u8, ()), Err(Error::Terminated));
    // The running task cannot be killed: join waits for it.
    assert_eq!(
        pool.join_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    );
    tx.send(()).unwrap();
    pool.join_timeout(secs(10)).unwrap();
}

#[test]
fn callbacks_run_and_cannot_block_on_the_pool() {
    let _d = mp_testkit::deadline(secs(30));
    let pool = Arc::new(ThreadPool::new(2).unwrap());
    let (tx, rx) = mpsc::channel();
    let inner = pool.clone();
    let result = pool
        .apply_async_with(
            |x: u64| x * 3,
            (5,),
            Callbacks::new().callback(move |v: &u64| {
                let nested = inner.apply(|| 1u8, ());
                tx.send((*v, nested)).unwrap();
            }),
        )
        .unwrap();
    assert_eq!(result.get_timeout(secs(10)).unwrap(), 15);
    let (value, nested) = rx.recv_timeout(secs(10)).unwrap();
    assert_eq!((value, nested), (15, Err(Error::CalledFromCallback)));
    let (etx, erx) = mpsc::channel();
    let failed = pool
        .apply_async_with(
            || -> u8 { panic!("cb") },
            (),
            Callbacks::new().error_callback(move |e| etx.send(e.clone()).unwrap()),
        )
        .unwrap();
    assert!(failed.get_timeout(secs(10)).is_err());
    assert_eq!(
        erx.recv_timeout(secs(10)).unwrap(),
        Error::Panicked("cb".into())
    );
    // A task may use the pool (other threads run it), but not join it.
    let inner = pool.clone();
    assert_eq!(
        pool.apply(move || inner.apply(|| 2u8, ()), ()).unwrap(),
        Ok(2)
    );
    let (inner, (rx, tx)) = (pool.clone(), gate());
    let joined_from_task = pool
        .apply_async(
            move || {
                rx.lock().unwrap().recv_timeout(secs(10)).unwrap();
                inner.join()
            },
            (),
        )
        .unwrap();
    pool.close();
    tx.send(()).unwrap();
    assert_eq!(
        joined_from_task.get_timeout(secs(10)).unwrap(),
        Err(Error::CalledFromCallback)
    );
    pool.join_timeout(secs(10)).unwrap();
}

fn thread_pool_in_a_child(n: u64) {
    let pool = ThreadPool::new(2).unwrap();
    let offset = n;
    let total: u64 = pool
        .map(move |x: u64| x + offset, 0..10u64)
        .unwrap()
        .iter()
        .sum();
    assert_eq!(total, 45 + 10 * n);
    drop(pool);
}

/// A thread pool works inside a child under every start method, and its
/// threads do not keep the child from exiting.
#[test]
fn a_thread_pool_works_in_a_child_process() {
    let _d = mp_testkit::deadline(secs(60));
    for method in mp_process::StartMethod::ALL {
        let mut child = mp_process::Process::new(thread_pool_in_a_child, (3,)).start_method(method);
        child.start().unwrap();
        assert_eq!(child.join_timeout(secs(30)).unwrap(), Some(0), "{method}");
    }
}
