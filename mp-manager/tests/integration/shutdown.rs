//! After shutdown every call fails at once with `ManagerClosed`.

use std::time::Duration;

use mp_manager::{Error, ListProxy, Manager, QueueProxy};
use mp_pipe::Connection;

use crate::{DEADLINE, PATIENCE, until_waiting};

fn closed<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::ManagerClosed))
}

fn blocked_get(q: QueueProxy<u32>, started: Connection) -> String {
    started.send(&()).unwrap();
    format!("{:?}", q.get())
}

fn call_after_shutdown(list: ListProxy<u32>) -> String {
    format!("{:?}", list.len())
}

#[test]
fn every_call_after_shutdown_is_manager_closed() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let server = manager.pid().unwrap();
    let list = manager.list_from([1u32]).unwrap();
    let dict = manager.dict::<String, u32>().unwrap();
    let ns = manager.namespace().unwrap();
    let value = manager.value(&1u32).unwrap();
    let array = manager.array([1u32]).unwrap();
    let queue = manager.queue::<u32>().unwrap();
    let jq = manager.joinable_queue::<u32>(0).unwrap();
    let lock = manager.lock().unwrap();
    let rlock = manager.rlock().unwrap();
    let sem = manager.semaphore(0).unwrap();
    let event = manager.event().unwrap();
    let cond = manager.condition().unwrap();
    let barrier = manager.barrier(2).unwrap();

    // A child blocked in `get`, and threads blocked here, are woken.
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let child = mp_process::spawn(blocked_get, (queue.clone(), theirs)).unwrap();
    ours.recv_timeout::<()>(PATIENCE).unwrap();
    std::thread::scope(|s| {
        let getter = s.spawn(|| queue.get());
        let waiter = s.spawn(|| event.wait());
        let acquirer = s.spawn(|| sem.acquire());
        let barrier_waiter = s.spawn(|| barrier.wait());
        // The child's get and the four calls here.
        until_waiting(&manager, 5);
        manager.shutdown().unwrap();
        assert!(closed(getter.join().unwrap()));
        assert!(closed(waiter.join().unwrap()));
        assert!(closed(acquirer.join().unwrap()));
        assert!(closed(barrier_waiter.join().unwrap()));
    });
    assert_eq!(child.join().unwrap(), "Err(ManagerClosed)");
    // Twice is fine.
    manager.shutdown().unwrap();
    assert!(!mp_testkit::is_running(server));

    assert!(closed(list.append(&2)));
    assert!(closed(list.to_vec()));
    assert!(closed(list.sort()));
    assert!(closed(dict.insert("a", &1)));
    assert!(closed(dict.items()));
    assert!(closed(ns.get::<u32>("x")));
    assert!(closed(ns.set("x", &1)));
    assert!(closed(value.get()));
    assert!(closed(value.fetch_add(1)));
    assert!(closed(array.get(0)));
    assert!(closed(queue.put(&1)));
    assert!(closed(queue.get_timeout(Duration::from_secs(5))));
    assert!(closed(jq.join()));
    assert!(closed(lock.acquire()));
    assert!(closed(rlock.lock()));
    assert!(closed(sem.release()));
    assert!(closed(event.set()));
    assert!(closed(cond.notify()));
    assert!(closed(barrier.wait()));
    assert!(closed(manager.list::<u8>()));
    assert!(closed(manager.number_of_objects()));
    // Clones, and copies given to new processes, are closed too.
    assert!(closed(list.clone().len()));
    let child = mp_process::spawn(call_after_shutdown, (list.clone(),)).unwrap();
    assert_eq!(child.join().unwrap(), "Err(ManagerClosed)");
    // Dropping proxies of a closed manager is quiet.
    drop((
        list, dict, ns, value, array, queue, jq, lock, rlock, sem, event, cond,
    ));
}

/// A server that dies without a shutdown (killed) looks the same to
/// proxies: `ManagerClosed`, not a hang.
#[test]
fn a_killed_server_is_manager_closed() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list::<u32>().unwrap();
    list.append(&1).unwrap();
    let pid = manager.pid().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(mp_testkit::eventually(
        PATIENCE,
        || !mp_testkit::is_running(pid)
    ));
    assert!(closed(list.append(&2)));
    assert!(closed(list.len()));
}
