//! `AsyncResult` awaited under tokio's current-thread runtime: one thread,
//! so an await that blocked it would stop every other task and the test
//! would hang until its deadline.

use std::future::IntoFuture;
use std::sync::Arc;

use mp_pool::ThreadPool;

use super::*;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn an_awaited_result_leaves_the_executor_free() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let gate = Arc::new(Gate::new());
    let result = pool.apply_async(after_gate, (gate.path(), 7)).unwrap();
    let value = current_thread().block_on(async {
        // Runs only if awaiting the result gives the thread back.
        let opener = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.open() }
        });
        let value = result.await;
        opener.await.unwrap();
        value
    });
    assert_eq!(value, Ok(7));
}

#[test]
fn many_results_are_awaited_on_one_thread() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let results: Vec<_> = (0..50u64)
        .map(|i| pool.apply_async(square, (i,)).unwrap())
        .collect();
    let mapped = pool.map_async(square, 0..100u64).unwrap();
    let got = current_thread().block_on(async {
        let tasks: Vec<_> = results
            .into_iter()
            .map(|r| tokio::spawn(r.into_future()))
            .collect();
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap().unwrap());
        }
        (got, mapped.await.unwrap())
    });
    assert_eq!(got.0, (0..50u64).map(|i| i * i).collect::<Vec<_>>());
    assert_eq!(got.1, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn a_finished_result_is_ready_at_the_first_poll() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let result = pool.apply_async(add, (2, 3)).unwrap();
    result.wait().unwrap();
    let mut future = std::pin::pin!(result.into_future());
    let waker = std::task::Waker::noop();
    let polled = future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker));
    assert_eq!(polled, std::task::Poll::Ready(Ok(5)));
}

#[test]
fn awaited_errors_are_the_errors_of_get() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let panicked = pool.apply_async(panic_on, (3,)).unwrap();
    let lost = pool.apply_async(die, ("exit3".to_owned(),)).unwrap();
    let taken = pool.apply_async(square, (4,)).unwrap();
    assert_eq!(taken.get_timeout(secs(30)), Ok(16));
    current_thread().block_on(async {
        assert!(matches!(panicked.await, Err(Error::Panicked(_))));
        assert!(matches!(lost.await, Err(Error::WorkerLost { .. })));
        assert_eq!(taken.await, Err(Error::ResultTaken));
    });
}

#[test]
fn a_runtime_timeout_around_the_await_leaves_the_task_running() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let gate = Gate::new();
    let result = pool.apply_async(after_gate, (gate.path(), 9)).unwrap();
    let rt = current_thread();
    let mut future = result.into_future();
    let early =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(50), &mut future).await });
    assert!(early.is_err());
    gate.open();
    assert_eq!(rt.block_on(future), Ok(9));
}

#[test]
fn a_thread_pool_result_is_awaited_too() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = ThreadPool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let result = pool
        .apply_async(
            |rx: std::sync::mpsc::Receiver<u32>| rx.recv().unwrap() + 1,
            (rx,),
        )
        .unwrap();
    let value = current_thread().block_on(async {
        let sender = tokio::spawn(async move { tx.send(41).unwrap() });
        let value = result.await;
        sender.await.unwrap();
        value
    });
    assert_eq!(value, Ok(42));
}

fn gated((path, value): (String, u64)) -> u64 {
    after_gate(path, value)
}

#[test]
fn imap_results_are_awaited_one_by_one() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let gate = Arc::new(Gate::new());
    let path = gate.path();
    let mut items = pool
        .imap(gated, (0..20u64).map(move |i| (path.clone(), i)))
        .unwrap();
    let got = current_thread().block_on(async {
        // Runs only if awaiting the next item gives the thread back.
        let opener = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.open() }
        });
        let mut got = Vec::new();
        while let Some(item) = items.next_async().await {
            got.push(item.unwrap());
        }
        opener.await.unwrap();
        got
    });
    assert_eq!(got, (0..20u64).collect::<Vec<_>>());
}

#[cfg(feature = "stream")]
#[test]
fn imap_unordered_is_a_stream() {
    use futures_core::Stream;
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let mut items = pool.imap_unordered(square, 0..200u64).unwrap();
    let mut got = current_thread().block_on(async {
        let mut got = Vec::new();
        while let Some(item) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut items).poll_next(cx)).await
        {
            got.push(item.unwrap());
        }
        got
    });
    got.sort_unstable();
    assert_eq!(got, (0..200u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn thread_pool_imap_is_awaited_too() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = ThreadPool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let mut items = pool
        .imap(move |_: u64| rx.lock().unwrap().recv().unwrap(), 0..3u64)
        .unwrap();
    let got = current_thread().block_on(async {
        let sender = tokio::spawn(async move {
            for v in [10, 20, 30] {
                tx.send(v).unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(item) = items.next_async().await {
            got.push(item.unwrap());
        }
        sender.await.unwrap();
        got
    });
    let mut got = got;
    got.sort_unstable();
    assert_eq!(got, [10, 20, 30]);
}
