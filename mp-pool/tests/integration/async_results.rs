//! `AsyncResult`: timeouts, wait/ready/successful, callbacks.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use mp_pool::Callbacks;

use super::*;

#[test]
fn get_timeout_times_out_and_the_task_keeps_running() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let gate = Gate::new();
    let result = pool.apply_async(after_gate, (gate.path(), 600)).unwrap();
    let t = Instant::now();
    assert_eq!(
        result.get_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(!result.ready());
    assert!(!result.wait_timeout(Duration::from_millis(10)));
    gate.open();
    assert_eq!(result.get_timeout(secs(30)), Ok(600));
    assert_eq!(result.get_timeout(secs(1)), Err(Error::ResultTaken));
    assert_eq!(result.successful(), Ok(true));
}

#[test]
fn wait_ready_and_successful() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let gate = Gate::new();
    let slow = pool.apply_async(after_gate, (gate.path(), 300)).unwrap();
    assert_eq!(slow.successful(), Err(Error::NotReady));
    assert!(!slow.ready());
    gate.open();
    slow.wait().unwrap();
    assert!(slow.ready());
    assert_eq!(slow.successful(), Ok(true));
    assert_eq!(slow.get(), Ok(300));

    let failing = pool.apply_async(always_panic, (1,)).unwrap();
    assert!(failing.wait_timeout(secs(30)));
    assert_eq!(failing.successful(), Ok(false));
    assert_eq!(failing.get(), Err(Error::Panicked("boom 1".to_owned())));
}

#[test]
fn callbacks_run_in_this_process_before_get_returns() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let ok = pool
        .apply_async_with(
            square,
            (9,),
            Callbacks::new().callback(move |v: &u64| {
                s1.lock()
                    .unwrap()
                    .push(format!("ok {v} in {}", std::process::id()))
            }),
        )
        .unwrap();
    let err = pool
        .apply_async_with(
            always_panic,
            (2,),
            Callbacks::new()
                .callback(|_: &u64| panic!("not called"))
                .error_callback(move |e| s2.lock().unwrap().push(format!("err {e}"))),
        )
        .unwrap();
    assert_eq!(ok.get(), Ok(81));
    assert!(err.get().is_err());
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&format!("ok 81 in {}", std::process::id())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"err the task panicked: boom 2".to_owned()),
        "{seen:?}"
    );

    let (tx, rx) = mpsc::channel();
    let all = pool
        .map_async_with(
            square,
            0..10u64,
            Some(3),
            Callbacks::new().callback(move |v: &Vec<u64>| tx.send(v.iter().sum::<u64>()).unwrap()),
        )
        .unwrap();
    assert_eq!(rx.recv_timeout(secs(30)), Ok(285));
    assert_eq!(all.get().unwrap().len(), 10);
}

#[test]
fn a_blocking_call_in_a_callback_is_an_error_not_a_hang() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Arc::new(Pool::new(1).unwrap());
    let (tx, rx) = mpsc::channel();
    let inner = pool.clone();
    let r = pool
        .apply_async_with(
            square,
            (2,),
            Callbacks::new().callback(move |_: &u64| {
                tx.send(inner.apply(square, (3,))).unwrap();
            }),
        )
        .unwrap();
    assert_eq!(r.get(), Ok(4));
    assert_eq!(
        rx.recv_timeout(secs(30)).unwrap(),
        Err(Error::CalledFromCallback)
    );
}
