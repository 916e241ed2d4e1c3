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
