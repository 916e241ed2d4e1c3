//! A caller blocked in `get` takes results off the queue itself (no hop
//! through the result thread); callbacks still run on the result thread,
//! and work no one waits for still completes.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use mp_pool::Callbacks;

use super::*;

#[test]
fn callbacks_run_on_the_result_thread_while_a_caller_routes() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Arc::new(Pool::new(2).unwrap());
    let (started, done) = (Gate::new(), Gate::new());
    let ran_on = Arc::new(Mutex::new(None));
    let helper = {
        let (pool, ran_on) = (pool.clone(), ran_on.clone());
        let (started, done_path) = (started.path(), done.path());
        std::thread::spawn(move || {
            // The main thread's task runs: the main thread waits in `apply`,
            // taking results off the queue.
            assert!(mp_testkit::eventually(secs(30), || {
                std::path::Path::new(&started).exists()
            }));
            let cb = Callbacks::new().callback(move |_: &u64| {
                *ran_on.lock().unwrap() = std::thread::current().name().map(str::to_owned);
                std::fs::write(&done_path, b"").unwrap();
            });
            pool.apply_async_with(square, (3,), cb).unwrap().get()
        })
    };
    assert_eq!(
        pool.apply(open_then_wait, (started.path(), done.path(), 5)),
        Ok(5)
    );
    assert_eq!(helper.join().unwrap(), Ok(9));
    assert_eq!(ran_on.lock().unwrap().as_deref(), Some("mp-pool results"));
}

#[test]
fn async_work_completes_with_no_one_waiting_after_a_blocking_call() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    for round in 0..20u64 {
        // The blocking call routes its own result; the result thread is
        // parked meanwhile and must come back for what follows.
        assert_eq!(pool.apply(square, (round,)), Ok(round * round));
        let (tx, rx) = mpsc::channel();
        let r = pool
            .apply_async_with(
                add,
                (round, 1),
                Callbacks::new().callback(move |v: &u64| tx.send(*v).unwrap()),
            )
            .unwrap();
        assert_eq!(rx.recv_timeout(secs(30)), Ok(round + 1));
        assert_eq!(r.get(), Ok(round + 1));
        let plain = pool.apply_async(add, (round, 2)).unwrap();
        assert!(mp_testkit::eventually(secs(30), || plain.ready()));
        assert_eq!(plain.get(), Ok(round + 2));
    }
}

#[test]
fn many_threads_calling_at_once_each_get_their_own_results() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Arc::new(Pool::new(2).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    let x = t * 1000 + i;
                    assert_eq!(pool.apply(square, (x,)), Ok(x * x));
                    if i % 50 == 0 {
                        let xs: Vec<u64> = (x..x + 20).collect();
                        let want: Vec<u64> = xs.iter().map(|v| v * v).collect();
                        assert_eq!(pool.map_chunked(square, &xs, 3), Ok(want));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_blocking_apply_whose_worker_is_killed_is_worker_lost() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.apply(square, (2,)), Ok(4));
    assert_eq!(
        pool.apply(die, ("sigkill".to_owned(),)),
        Err(Error::WorkerLost { exitcode: -9 })
    );
    assert_eq!(pool.apply(square, (3,)), Ok(9));
}
