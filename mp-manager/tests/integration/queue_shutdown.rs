//! `QueueProxy::shutdown` / `JoinableQueueProxy::shutdown` (Python 3.13)
//! across client processes: puts fail, gets drain then fail, `immediate`
//! drops the items and releases a blocked `join`, blocked calls wake.

use mp_manager::{Error, JoinableQueueProxy, Manager, QueueProxy};
use mp_process::Process;

use crate::{DEADLINE, PATIENCE, until_waiting};

fn blocked_get_sees_shut_down(q: QueueProxy<u32>) {
    match q.get() {
        Err(Error::ShutDown) => {}
        other => panic!("a blocked get ended with {other:?}"),
    }
}

fn blocked_put_sees_shut_down(q: QueueProxy<u32>) {
    match q.put(&2) {
        Err(Error::ShutDown) => {}
        other => panic!("a blocked put ended with {other:?}"),
    }
}

fn blocked_join_returns(q: JoinableQueueProxy<u32>) {
    q.join().unwrap();
}

fn shut_down_from_a_child(q: QueueProxy<u32>, immediate: bool) {
    q.shutdown(immediate).unwrap();
}

fn exits_cleanly(p: Process, what: &str) {
    assert_eq!(p.join_timeout(PATIENCE).unwrap(), Some(0), "{what}");
}

#[test]
fn a_shutdown_stops_puts_and_lets_gets_drain_in_every_client() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let q = manager.queue::<u32>().unwrap();
    q.put(&1).unwrap();
    q.put(&2).unwrap();
    let mut p = Process::new(shut_down_from_a_child, (q.clone(), false));
    p.start().unwrap();
    exits_cleanly(p, "shutting down child");
    assert!(matches!(q.put(&3), Err(Error::ShutDown)));
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get().unwrap(), 2);
    assert!(matches!(q.get(), Err(Error::ShutDown)));
    assert!(matches!(q.try_get(), Err(Error::ShutDown)));
}

#[test]
fn blocked_calls_in_other_processes_wake_with_shut_down() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let empty = manager.queue::<u32>().unwrap();
    let full = manager.bounded_queue::<u32>(1).unwrap();
    full.put(&1).unwrap();
    let mut getter = Process::new(blocked_get_sees_shut_down, (empty.clone(),));
    getter.start().unwrap();
    let mut putter = Process::new(blocked_put_sees_shut_down, (full.clone(),));
    putter.start().unwrap();
    until_waiting(&manager, 2);
    empty.shutdown(false).unwrap();
    full.shutdown(false).unwrap();
    exits_cleanly(getter, "blocked get");
    exits_cleanly(putter, "blocked put");
    // Not immediate: the item there is still delivered.
    assert_eq!(full.get().unwrap(), 1);
    assert!(matches!(full.get(), Err(Error::ShutDown)));
}

#[test]
fn an_immediate_shutdown_drops_the_items_and_releases_join() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let q = manager.joinable_queue::<u32>(0).unwrap();
    for n in 0..5 {
        q.put(&n).unwrap();
    }
    let mut joiner = Process::new(blocked_join_returns, (q.clone(),));
    joiner.start().unwrap();
    until_waiting(&manager, 1);
    q.shutdown(true).unwrap();
    exits_cleanly(joiner, "blocked join");
    assert_eq!(q.qsize().unwrap(), 0);
    assert!(matches!(q.get(), Err(Error::ShutDown)));
    assert!(matches!(q.task_done(), Err(Error::TooManyReleases)));
}
