//! OS handles (a `Queue`, ...) and a pool: not through tasks, which say
//! what to do instead, but through the initializer, as Python's
//! `initargs` are inherited.

use std::sync::OnceLock;

use mp_process::StartMethod;
use mp_queue::Queue;

use super::*;

fn put_into(q: Queue<u64>, x: u64) -> u64 {
    q.put(&x).unwrap();
    x
}

fn make_queue(_: u64) -> Queue<u64> {
    Queue::new().unwrap()
}

#[test]
fn a_queue_in_a_task_is_refused_with_what_to_do_instead() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let q = Queue::<u64>::new().unwrap();
    let r = pool.apply(put_into, (q.clone(), 1));
    let Err(Error::Encode(why)) = &r else {
        panic!("expected an Encode error: {r:?}")
    };
    for says in [
        "cannot travel in a pool task",
        "initializer",
        "Manager::queue",
    ] {
        assert!(why.contains(says), "{says:?} not in {why:?}");
    }
    // A handle as a task's result, made in the worker: the same advice.
    let r = pool.apply(make_queue, (1,));
    let Err(Error::Encode(why)) = &r else {
        panic!("expected an Encode error: {r:?}")
    };
    assert!(why.contains("cannot travel in a pool task"), "{why:?}");
    // The pool goes on.
    assert_eq!(pool.apply(square, (3,)), Ok(9));
}

static KEPT: OnceLock<Queue<u64>> = OnceLock::new();

fn keep(q: Queue<u64>) {
    let _ = KEPT.set(q);
}

fn report(x: u64) -> u64 {
    KEPT.get().expect("the initializer ran").put(&x).unwrap();
    x
}

/// Every worker, the first ones and those that replace them
/// (`maxtasksperchild`), gets the queue through the initializer.
#[test]
fn a_queue_reaches_every_worker_through_the_initializer() {
    let _d = mp_testkit::deadline(secs(120));
    for m in StartMethod::ALL {
        let q = Queue::<u64>::new().unwrap();
        let pool = Pool::builder()
            .processes(2)
            .start_method(m)
            .initializer(keep, (q.clone(),))
            .maxtasksperchild(2)
            .build()
            .unwrap();
        assert_eq!(
            pool.map_chunked(report, 0..10u64, 1).unwrap(),
            (0..10).collect::<Vec<_>>()
        );
        let mut got: Vec<u64> = (0..10).map(|_| q.get_timeout(secs(30)).unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<_>>(), "{m}");
    }
}
