//! Queues and synchronization primitives on the server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mp_manager::{Error, LockProxy, Manager, QueueProxy, RLockProxy};
use mp_pipe::Connection;
use mp_process::Process;

use crate::{DEADLINE, PATIENCE, until_waiting};

const SHORT: Duration = Duration::from_millis(200);

#[test]
fn queues_block_time_out_and_join() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let q = manager.bounded_queue::<String>(1).unwrap();
    assert_eq!(q.maxsize().unwrap(), 1);
    assert!(q.is_empty().unwrap());
    q.try_put("a").unwrap();
    assert!(q.is_full().unwrap());
    assert!(matches!(q.try_put("b"), Err(Error::Full)));
    let start = Instant::now();
    assert!(matches!(q.put_timeout("b", SHORT), Err(Error::Full)));
    assert!(start.elapsed() >= SHORT);
    assert_eq!(q.qsize().unwrap(), 1);
    assert_eq!(q.try_get().unwrap(), "a");
    assert!(matches!(q.try_get(), Err(Error::Empty)));
    let start = Instant::now();
    assert!(matches!(q.get_timeout(SHORT), Err(Error::Empty)));
    assert!(start.elapsed() >= SHORT);
    // A blocked put proceeds when a consumer makes room.
    q.put("first").unwrap();
    std::thread::scope(|s| {
        s.spawn(|| q.put("second").unwrap());
        until_waiting(&manager, 1);
        assert_eq!(q.get().unwrap(), "first");
        assert_eq!(q.get_timeout(PATIENCE).unwrap(), "second");
    });

    let jq = manager.joinable_queue::<u32>(0).unwrap();
    jq.put(&1).unwrap();
    jq.put(&2).unwrap();
    assert!(!jq.join_timeout(SHORT).unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..2 {
                jq.get().unwrap();
                jq.task_done().unwrap();
            }
        });
        jq.join().unwrap();
    });
    assert!(matches!(jq.task_done(), Err(Error::TooManyReleases)));
    // A JoinableQueue can be used through a plain QueueProxy too.
    let plain: QueueProxy<u32> = {
        let (bytes, fds) = mp_handle::encode(&jq).unwrap();
        mp_handle::decode(&bytes, fds).unwrap()
    };
    plain.put(&3).unwrap();
    assert_eq!(jq.get().unwrap(), 3);
}

fn square_list(numbers: Vec<u64>, q: QueueProxy<u64>) {
    for n in numbers {
        q.put(&(n * n)).unwrap();
    }
}

/// The seed tutorial's queue program, with a manager queue.
#[test]
fn a_queue_carries_results_from_a_child() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let q = manager.queue::<u64>().unwrap();
    let mut p = Process::new(square_list, (vec![1, 2, 3, 4], q.clone()));
    p.start().unwrap();
    assert_eq!(p.join_timeout(PATIENCE).unwrap(), Some(0));
    let mut got = Vec::new();
    while !q.is_empty().unwrap() {
        got.push(q.get().unwrap());
    }
    assert_eq!(got, [1, 4, 9, 16]);
}

#[test]
fn locks_and_rlocks() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let lock = manager.lock().unwrap();
    assert!(!lock.locked().unwrap());
    assert!(matches!(lock.release(), Err(Error::NotOwner)));
    {
        let _guard = lock.lock().unwrap();
        assert!(lock.locked().unwrap());
        assert!(!lock.try_acquire().unwrap());
        let start = Instant::now();
        assert!(!lock.acquire_timeout(SHORT).unwrap());
        assert!(start.elapsed() >= SHORT);
    }
    assert!(!lock.locked().unwrap());
    // As in Python, another thread may release a plain Lock.
    lock.acquire().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| lock.release().unwrap());
    });
    assert!(!lock.locked().unwrap());

    let rlock = manager.rlock().unwrap();
    rlock.acquire().unwrap();
    assert!(rlock.try_acquire().unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(!rlock.try_acquire().unwrap());
            assert!(matches!(rlock.release(), Err(Error::NotOwner)));
        });
    });
    rlock.release().unwrap();
    assert!(rlock.locked().unwrap());
    rlock.release().unwrap();
    assert!(!rlock.locked().unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            let guard = rlock.lock().unwrap();
            guard.unlock().unwrap();
        });
    });
}

/// Mutual exclusion across processes: a read-modify-write under the lock
/// from several children loses nothing.
fn locked_increments(lock: LockProxy, ns: mp_manager::Namespace) {
    for _ in 0..20 {
        let _guard = lock.lock().unwrap();
        let n: u32 = ns.get("n").unwrap();
        ns.set("n", &(n + 1)).unwrap();
    }
}

#[test]
fn a_lock_serializes_children() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let lock = manager.lock().unwrap();
    let ns = manager.namespace().unwrap();
    ns.set("n", &0u32).unwrap();
    let mut children: Vec<Process> = (0..3)
        .map(|_| Process::new(locked_increments, (lock.clone(), ns.clone())))
        .collect();
    for child in &mut children {
        child.start().unwrap();
    }
    for child in &children {
        assert_eq!(child.join_timeout(PATIENCE).unwrap(), Some(0));
    }
    assert_eq!(ns.get::<u32>("n").unwrap(), 60);
}

fn hold_and_hang(lock: LockProxy, rlock: RLockProxy, ready: Connection) {
    lock.acquire().unwrap();
    rlock.acquire().unwrap();
    ready.send(&()).unwrap();
    // Holds them until killed.
    loop {
        std::thread::park();
    }
}

/// A lock held by a process that dies is released by the server.
#[test]
fn locks_of_a_killed_process_are_released() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let lock = manager.lock().unwrap();
    let rlock = manager.rlock().unwrap();
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut child = Process::new(hold_and_hang, (lock.clone(), rlock.clone(), theirs));
    child.start().unwrap();
    ours.recv_timeout::<()>(PATIENCE).unwrap();
    assert!(!lock.try_acquire().unwrap());
    assert!(!rlock.try_acquire().unwrap());
    child.kill().unwrap();
    child.join_timeout(PATIENCE).unwrap();
    assert!(lock.acquire_timeout(PATIENCE).unwrap());
    assert!(rlock.acquire_timeout(PATIENCE).unwrap());
}

#[test]
fn semaphores_and_events() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let sem = manager.semaphore(2).unwrap();
    sem.acquire().unwrap();
    assert!(sem.try_acquire().unwrap());
    assert!(!sem.try_acquire().unwrap());
    let start = Instant::now();
    assert!(!sem.acquire_timeout(SHORT).unwrap());
    assert!(start.elapsed() >= SHORT);
    sem.release_n(3).unwrap();
    assert_eq!(sem.get_value().unwrap(), 3);
    let bounded = manager.bounded_semaphore(1).unwrap();
    assert!(matches!(bounded.release(), Err(Error::TooManyReleases)));
    bounded.acquire().unwrap();
    bounded.release().unwrap();

    let event = manager.event().unwrap();
    assert!(!event.is_set().unwrap());
    assert!(!event.wait_timeout(SHORT).unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            until_waiting(&manager, 1);
            event.set().unwrap();
        });
        event.wait().unwrap();
    });
    assert!(event.is_set().unwrap());
    event.clear().unwrap();
    assert!(!event.is_set().unwrap());
}

#[test]
fn conditions_wait_and_notify() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let cond = manager.condition().unwrap();
    let ready = manager.value(&false).unwrap();
    assert!(matches!(cond.notify(), Err(Error::NotOwner)));
    assert!(matches!(cond.wait_timeout(SHORT), Err(Error::NotOwner)));
    std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let _guard = cond.lock().unwrap();
            cond.wait_for(|| ready.get().unwrap(), Some(PATIENCE))
                .unwrap()
        });
        until_waiting(&manager, 1);
        {
            let _guard = cond.lock().unwrap();
            ready.set(&true).unwrap();
            cond.notify_all().unwrap();
        }
        assert!(consumer.join().unwrap());
    });
    // wait re-takes the lock even when it times out (reentrantly held twice).
    let _outer = cond.lock().unwrap();
    let _inner = cond.lock().unwrap();
    assert!(!cond.wait_timeout(SHORT).unwrap());
    assert!(cond.locked().unwrap());
}

#[test]
fn barriers_release_together_and_break() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let barrier = manager.barrier(3).unwrap();
    assert_eq!(barrier.parties().unwrap(), 3);
    let indices: BTreeSet<usize> = std::thread::scope(|s| {
        let waiters: Vec<_> = (0..3)
            .map(|_| s.spawn(|| barrier.wait_timeout(PATIENCE).unwrap()))
            .collect();
        waiters.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(indices, (0..3).collect());
    // A waiter that times out breaks the barrier for the others.
    std::thread::scope(|s| {
        let other = s.spawn(|| barrier.wait_timeout(PATIENCE));
        mp_testkit::eventually(PATIENCE, || barrier.n_waiting().unwrap() == 1);
        assert!(matches!(
            barrier.wait_timeout(SHORT),
            Err(Error::BrokenBarrier)
        ));
        assert!(matches!(other.join().unwrap(), Err(Error::BrokenBarrier)));
    });
    assert!(barrier.broken().unwrap());
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    barrier.reset().unwrap();
    assert!(!barrier.broken().unwrap());
    // reset wakes current waiters with BrokenBarrier.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| barrier.wait_timeout(PATIENCE));
        mp_testkit::eventually(PATIENCE, || barrier.n_waiting().unwrap() == 1);
        barrier.reset().unwrap();
        assert!(matches!(waiter.join().unwrap(), Err(Error::BrokenBarrier)));
    });
    barrier.abort().unwrap();
    assert!(barrier.broken().unwrap());
}

fn get_then_report(q: QueueProxy<u32>, started: Connection) {
    started.send(&()).unwrap();
    // Blocks until killed.
    let _ = q.get();
}

/// A `get` blocked on the server for a client that dies takes nothing: the
/// next item goes to a live consumer.
#[test]
fn a_dead_consumer_does_not_swallow_an_item() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let q = manager.queue::<u32>().unwrap();
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut child = Process::new(get_then_report, (q.clone(), theirs));
    child.start().unwrap();
    ours.recv_timeout::<()>(PATIENCE).unwrap();
    until_waiting(&manager, 1);
    child.kill().unwrap();
    child.join_timeout(PATIENCE).unwrap();
    // At once: the server must not hand the item to the dead client's get.
    q.put(&7).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), 7);
}
