use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use mp_shm::{BoundedSemaphore, Condition, ErrorKind, Event, Lock, RawValue, Semaphore, Value};
use mp_testkit::{deadline, eventually};

use crate::{LONG, join, started};

fn take_one(sem: Semaphore, got: RawValue<u32>) {
    if sem.try_acquire().is_ok() {
        got.store(99);
        return;
    }
    sem.acquire_timeout(Duration::from_secs(20))
        .unwrap()
        .forget();
    got.store(1);
}

#[test]
fn semaphore_counts_across_processes() {
    let _d = deadline(LONG);
    let sem = Semaphore::new(2).unwrap();
    assert_eq!(sem.get_value(), 2);
    sem.acquire().forget();
    let held = sem.acquire();
    assert_eq!(sem.get_value(), 0);
    let got = RawValue::new(0u32).unwrap();
    let p = started(
        Process::new(take_one, (sem.clone(), got.clone())),
        StartMethod::Forkserver,
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(got.load(), 0, "the child must block at zero");
    drop(held);
    assert_eq!(join(&p), 0);
    assert_eq!(got.load(), 1);
    assert_eq!(sem.get_value(), 0);
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 1);
    let t = Instant::now();
    let _g = sem.acquire();
    assert_eq!(sem.try_acquire().unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(
        sem.acquire_timeout(Duration::from_millis(150))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    assert!(t.elapsed() >= Duration::from_millis(150));
}

fn release_bounded(sem: BoundedSemaphore) -> i32 {
    sem.release().unwrap();
    match sem.release() {
        Err(e) if e.kind() == ErrorKind::ReleasedTooManyTimes => 0,
        _ => 1,
    }
}

#[test]
fn bounded_semaphore_refuses_release_past_its_initial_value() {
    let _d = deadline(LONG);
    let sem = BoundedSemaphore::new(2).unwrap();
    assert_eq!(
        sem.release().unwrap_err().kind(),
        ErrorKind::ReleasedTooManyTimes
    );
    assert_eq!(sem.get_value(), 2);
    sem.acquire().forget();
    let child = mp_process::Context::new(StartMethod::Spawn)
        .spawn(release_bounded, (sem.clone(),))
        .unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(sem.get_value(), 2);
    {
        let _a = sem.acquire();
        let _b = sem.acquire();
        assert!(sem.try_acquire().is_err());
    }
    assert_eq!(sem.get_value(), 2);
}

fn wait_event(ev: Event, seen: RawValue<u32>) {
    let ok = ev.wait_timeout(Duration::from_secs(20));
    seen.store(u32::from(ok) + 1);
}

#[test]
fn event_set_clear_wait_across_processes() {
    let _d = deadline(LONG);
    let ev = Event::new().unwrap();
    assert!(!ev.is_set());
    let t = Instant::now();
    assert!(!ev.wait_timeout(Duration::from_millis(150)));
    assert!(t.elapsed() >= Duration::from_millis(150));
    let seen = RawValue::new(0u32).unwrap();
    let ps: Vec<Process> = [StartMethod::Fork, StartMethod::Spawn]
        .into_iter()
        .map(|m| started(Process::new(wait_event, (ev.clone(), seen.clone())), m))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(seen.load(), 0);
    ev.set();
    for p in &ps {
        assert_eq!(join(p), 0);
    }
    assert_eq!(seen.load(), 2, "woken by set, not by the timeout");
    assert!(ev.is_set());
    ev.wait();
    ev.clear();
    assert!(!ev.is_set());
}

fn cond_waiter(cond: Condition, waiting: Value<u32>, woken: RawValue<u32>) {
    let mut g = cond.acquire().unwrap();
    waiting.set_value(waiting.value().unwrap() + 1).unwrap();
    if cond.wait_timeout(&mut g, Duration::from_secs(20)).unwrap() {
        let w = &woken;
        w.store(w.load() + 1); // under the condition's lock
    }
}

#[test]
fn condition_notify_wakes_n_waiters_and_notify_all_the_rest() {
    let _d = deadline(LONG);
    let cond = Condition::new().unwrap();
    let waiting = Value::new(0u32).unwrap();
    let woken = RawValue::new(0u32).unwrap();
    let ps: Vec<Process> = [
        StartMethod::Forkserver,
        StartMethod::Spawn,
        StartMethod::Fork,
    ]
    .into_iter()
    .map(|m| {
        started(
            Process::new(cond_waiter, (cond.clone(), waiting.clone(), woken.clone())),
            m,
        )
    })
    .collect();
    // Each child counts itself under the condition's lock and waits, which
    // releases it: once we hold the lock with 3 counted, all 3 are waiting.
    assert!(eventually(LONG, || waiting.value().unwrap() == 3));
    let g = cond.acquire().unwrap();
    cond.notify(1).unwrap();
    drop(g);
    assert!(eventually(LONG, || woken.load() == 1));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(woken.load(), 1, "notify(1) wakes exactly one");
    let g = cond.acquire().unwrap();
    cond.notify_all().unwrap();
    drop(g);
    for p in &ps {
        assert_eq!(join(p), 0);
    }
    assert_eq!(woken.load(), 3);
}

fn set_flag_and_notify(cond: Condition, flag: Value<u32>) {
    std::thread::sleep(Duration::from_millis(100));
    let g = cond.acquire().unwrap();
    flag.set_with(g.lock_guard().unwrap(), 1).unwrap();
    cond.notify_all().unwrap();
}

#[test]
fn condition_wait_for_a_value_sharing_its_lock() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let cond = Condition::with_lock(lock.clone()).unwrap();
    let flag = Value::with_lock(0u32, lock).unwrap();
    let p = started(
        Process::new(set_flag_and_notify, (cond.clone(), flag.clone())),
        StartMethod::Spawn,
    );
    let mut g = cond.acquire().unwrap();
    cond.wait_for(&mut g, |g| {
        flag.get_with(g.lock_guard().unwrap()).unwrap() == 1
    })
    .unwrap();
    drop(g);
    assert_eq!(join(&p), 0);
    let mut g = cond.acquire().unwrap();
    let t = Instant::now();
    assert!(
        !cond
            .wait_for_timeout(&mut g, |_| false, Duration::from_millis(150))
            .unwrap()
    );
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[test]
fn condition_without_its_lock_is_an_error() {
    let _d = deadline(LONG);
    let cond = Condition::new().unwrap();
    assert_eq!(cond.notify(1).unwrap_err().kind(), ErrorKind::LockNotHeld);
    assert_eq!(
        cond.notify_all().unwrap_err().kind(),
        ErrorKind::LockNotHeld
    );
    let other = Condition::new().unwrap();
    let mut g = other.acquire().unwrap();
    assert_eq!(
        cond.wait_timeout(&mut g, Duration::from_millis(1))
            .unwrap_err()
            .kind(),
        ErrorKind::LockNotHeld
    );
    // With its own lock: an RLock held twice is released fully while waiting.
    let cond = Condition::new().unwrap();
    let mut g = cond.acquire().unwrap();
    let inner = cond.acquire().unwrap();
    assert!(
        !cond
            .wait_timeout(&mut g, Duration::from_millis(20))
            .unwrap()
    );
    drop(inner);
    drop(g);
    assert!(cond.try_acquire().is_ok());
    let plain = Condition::with_lock(Lock::new().unwrap()).unwrap();
    assert_eq!(plain.notify(1).unwrap_err().kind(), ErrorKind::LockNotHeld);
    let _g = plain.acquire().unwrap();
    plain.notify(1).unwrap();
}
