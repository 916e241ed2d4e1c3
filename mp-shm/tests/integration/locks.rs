use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use mp_shm::{AcquireError, Condition, ErrorKind, Event, Lock, RLock, Value};
use mp_testkit::deadline;

use crate::{LONG, join, started};

#[test]
fn lock_acquire_try_timeout_and_release_errors() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    assert!(!lock.is_locked());
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotLocked);
    let g = lock.acquire().unwrap();
    assert!(lock.is_locked());
    assert!(matches!(lock.try_acquire(), Err(AcquireError::Timeout)));
    let t = Instant::now();
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(200)),
        Err(AcquireError::Timeout)
    ));
    assert!(t.elapsed() >= Duration::from_millis(200));
    g.release();
    assert!(lock.try_acquire().is_ok());
    assert!(!lock.is_locked());
}

fn take_and_keep(lock: Lock, taken: Event) {
    lock.acquire().unwrap().forget();
    taken.set();
}

/// Has a child take `lock` and exit without releasing it; the child's pid.
fn locked_by_an_exited_child(lock: &Lock) -> u32 {
    let taken = Event::new().unwrap();
    let p = started(
        Process::new(take_and_keep, (lock.clone(), taken.clone())),
        StartMethod::Forkserver,
    );
    assert!(taken.wait_timeout(LONG));
    assert_eq!(join(&p), 0);
    p.pid().unwrap()
}

#[test]
fn a_lock_is_released_on_behalf_of_its_holder_only() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let child = locked_by_an_exited_child(&lock);
    // Not held by this process, nor by "nobody": nothing happens.
    assert!(!lock.release_if_held_by(std::process::id()));
    assert!(!lock.release_if_held_by(0));
    assert!(lock.is_locked());
    // The child that holds it: released.
    assert!(lock.release_if_held_by(child));
    assert!(!lock.is_locked());
    assert!(!lock.release_if_held_by(child), "already free");
}

fn release_it(lock: Lock) {
    lock.release().unwrap();
}

#[test]
fn another_process_may_release_a_lock() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    locked_by_an_exited_child(&lock);
    // The child left it locked; a second child releases it.
    let p = started(
        Process::new(release_it, (lock.clone(),)),
        StartMethod::Spawn,
    );
    assert_eq!(join(&p), 0);
    assert!(!lock.is_locked());
    // And the parent can release what a child holds.
    lock.acquire().unwrap().forget();
    lock.release().unwrap();
}

fn contend(lock: Lock, counter: Value<u64>) {
    for _ in 0..2000 {
        let g = lock.acquire().unwrap();
        let v = counter.get_with(&g).unwrap();
        counter.set_with(&g, v + 1).unwrap();
    }
}

#[test]
fn a_lock_excludes_across_processes_and_threads() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let counter = Value::with_lock(0u64, lock.clone()).unwrap();
    let p = started(
        Process::new(contend, (lock.clone(), counter.clone())),
        StartMethod::Forkserver,
    );
    let (l2, c2) = (lock.clone(), counter.clone());
    let t = std::thread::spawn(move || contend(l2, c2));
    contend(lock.clone(), counter.clone());
    t.join().unwrap();
    assert_eq!(join(&p), 0);
    assert_eq!(counter.value().unwrap(), 6000);
}

fn rlock_in_child(r: RLock) -> i32 {
    // Not the owner: releasing is refused.
    match r.release() {
        Err(e) if e.kind() == ErrorKind::NotOwner => {}
        _ => return 1,
    }
    if r.try_acquire().is_ok() {
        return 2;
    }
    // Waits for the parent to let go.
    let _g = r.acquire_timeout(Duration::from_secs(20)).unwrap();
    0
}

#[test]
fn rlock_is_recursive_and_owner_tracked() {
    let _d = deadline(LONG);
    let r = RLock::new().unwrap();
    let a = r.acquire().unwrap();
    let b = r.acquire().unwrap();
    b.forget();
    assert_eq!(r.count(), 2);
    assert!(r.is_owned());
    let child = mp_process::Context::new(StartMethod::Forkserver)
        .spawn(rlock_in_child, (r.clone(),))
        .unwrap();
    // Another thread of this process is not the owner either.
    let r2 = r.clone();
    let other = std::thread::spawn(move || r2.release().unwrap_err().kind());
    assert_eq!(other.join().unwrap(), ErrorKind::NotOwner);
    std::thread::sleep(Duration::from_millis(100));
    r.release().unwrap();
    drop(a);
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(r.count(), 0);
    assert_eq!(r.release().unwrap_err().kind(), ErrorKind::NotLocked);
}

fn hold_lock(lock: Lock, held: Event) {
    let _g = lock.acquire().unwrap();
    held.set();
    std::thread::sleep(Duration::from_secs(120));
}

fn hold_rlock(lock: RLock, held: Event) {
    let _a = lock.acquire().unwrap();
    let _b = lock.acquire().unwrap();
    held.set();
    std::thread::sleep(Duration::from_secs(120));
}

fn half_update(v: Value<[u64; 2]>, held: Event) {
    let mut g = v.lock().unwrap();
    g[0] = 1;
    held.set();
    std::thread::sleep(Duration::from_secs(120));
    g[1] = 1;
}

fn kill_holder(p: Process, held: &Event) {
    assert!(held.wait_timeout(LONG), "holder never took the lock");
    p.kill().unwrap();
    assert_eq!(crate::join(&p), -9);
}

/// Whether thread `tid` of this process sleeps in a futex wait (state S,
/// wchan `futex_*`; kernels that hide wchan show "0": state S then).
fn asleep_on_a_futex(tid: u32) -> bool {
    let task = format!("/proc/self/task/{tid}");
    let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    let wchan = std::fs::read_to_string(format!("{task}/wchan")).unwrap_or_default();
    state == "S" && (wchan.contains("futex") || wchan == "0")
}

/// The waiter is asleep on the lock before the holder dies (not a fixed
/// sleep: its thread's state), and the takeover comes well under a second
/// after the kill (a pidfd of the holder wakes it; polling took 20-50 ms).
#[test]
fn a_lock_whose_holder_was_killed_is_taken_over_with_owner_died() {
    let _d = deadline(LONG);
    for m in [StartMethod::Fork, StartMethod::Forkserver] {
        let lock = Lock::new().unwrap();
        let held = Event::new().unwrap();
        let p = started(Process::new(hold_lock, (lock.clone(), held.clone())), m);
        assert!(held.wait_timeout(LONG));
        let l2 = lock.clone();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tid_tx
                .send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                .unwrap();
            let died = match l2.acquire() {
                Err(died) => {
                    died.into_inner().mark_consistent();
                    true
                }
                Ok(_) => false,
            };
            (died, Instant::now())
        });
        let tid = tid_rx.recv().unwrap();
        assert!(
            mp_testkit::eventually(LONG, || asleep_on_a_futex(tid)),
            "{m}: the waiter never went to sleep on the lock"
        );
        let killed_at = Instant::now();
        kill_holder(p, &held);
        let (died, taken_at) = waiter.join().unwrap();
        assert!(died, "{m}: the waiter must see OwnerDied");
        let takeover = taken_at.saturating_duration_since(killed_at);
        assert!(
            takeover < Duration::from_millis(500),
            "{m}: took over {takeover:?} after the kill"
        );
        assert!(lock.is_consistent());
        assert!(lock.acquire().is_ok(), "{m}: clean once marked consistent");
    }
}

fn keep_value_locked(v: Value<u64>, held: Event) {
    let _g = v.lock().unwrap();
    held.set();
    std::thread::sleep(Duration::from_secs(120));
}

/// Issue 13 item 1 (a): `release_if_held_by` with this process's own pid,
/// while another thread holds a `Value`'s guard, released that guard's
/// lock, and a second thread then got a second live `&mut`. A hold with a
/// live guard is now the guard's alone.
#[test]
fn release_if_held_by_never_frees_a_live_guard() {
    let _d = deadline(LONG);
    let v = Value::new(0u64).unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let v2 = v.clone();
    let a = std::thread::spawn(move || {
        let mut g = v2.lock().unwrap();
        *g = 1;
        held_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        *g += 1;
    });
    held_rx.recv().unwrap();
    assert!(
        !v.get_lock().release_if_held_by(std::process::id()),
        "the hold of a live guard was released on the process's behalf"
    );
    assert!(v.get_lock().is_locked());
    assert!(
        matches!(v.try_lock(), Err(AcquireError::Timeout)),
        "a second guard while the first lives"
    );
    go_tx.send(()).unwrap();
    a.join().unwrap();
    assert_eq!(v.value().unwrap(), 2);
    // The same from another process: the child's guard is its own too.
    let held = Event::new().unwrap();
    let p = started(
        Process::new(keep_value_locked, (v.clone(), held.clone())),
        StartMethod::Forkserver,
    );
    assert!(held.wait_timeout(LONG));
    assert!(!v.get_lock().release_if_held_by(p.pid().unwrap()));
    assert!(v.try_lock().is_err());
    p.kill().unwrap();
    assert_eq!(crate::join(&p), -9);
}

/// Issue 13 item 1 (b): `release()` while a `LockGuard` lived left that
/// guard stale: `set_with` through it still wrote while another thread
/// held the value's guard, and dropping it freed that other guard's lock.
/// A live guard's hold cannot be released from under it.
#[test]
fn a_live_lock_guard_cannot_be_released_from_under_it() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let v = Value::with_lock(0u32, lock.clone()).unwrap();
    let g = lock.acquire().unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::HeldByGuard);
    let v2 = v.clone();
    let other_got_it = std::thread::spawn(move || v2.try_lock().is_ok())
        .join()
        .unwrap();
    assert!(
        !other_got_it,
        "another thread took the value under a live guard"
    );
    v.set_with(&g, 5).unwrap();
    assert_eq!(v.get_with(&g).unwrap(), 5);
    drop(g);
    assert!(!lock.is_locked());
    // CPython's free-standing acquire()/release() is forget() + release(),
    // from anywhere.
    lock.acquire().unwrap().forget();
    let l2 = lock.clone();
    std::thread::spawn(move || l2.release().unwrap())
        .join()
        .unwrap();
    assert!(!lock.is_locked());
}

/// Issue 13 item 1 (c): `Condition::wait` asked only whether *someone*
/// held the lock, then unlocked whoever did (another thread's pinned
/// `Value` guard) and took the lock for itself. It now releases and
/// re-takes its own guard's hold only, and the guard works after it.
#[test]
fn condition_wait_releases_only_its_own_guards_hold() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let cond = Condition::with_lock(lock.clone()).unwrap();
    let v = Value::with_lock(0u32, lock.clone()).unwrap();
    let mut g = cond.acquire().unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::HeldByGuard);
    // B waits for the value's lock; A's wait hands the lock over to B.
    let v2 = v.clone();
    let b = std::thread::spawn(move || *v2.lock().unwrap() += 1);
    assert!(
        !cond
            .wait_timeout(&mut g, Duration::from_millis(300))
            .unwrap()
    );
    b.join().unwrap();
    let guard = g.lock_guard().unwrap();
    assert_eq!(v.get_with(guard).unwrap(), 1);
    v.set_with(guard, 7).unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::HeldByGuard);
    drop(g);
    assert_eq!(v.value().unwrap(), 7);
}

#[test]
fn an_rlock_whose_holder_was_killed_is_taken_over_with_owner_died() {
    let _d = deadline(LONG);
    let lock = RLock::new().unwrap();
    let held = Event::new().unwrap();
    let p = started(
        Process::new(hold_rlock, (lock.clone(), held.clone())),
        StartMethod::Spawn,
    );
    kill_holder(p, &held);
    let died = lock.acquire().unwrap_err();
    let g = died.into_inner();
    assert!(lock.is_owned());
    assert_eq!(lock.count(), 1, "the dead owner's depth is gone");
    // Not marked consistent: the next acquirer is told again.
    drop(g);
    assert!(!lock.is_consistent());
    let g = lock.try_acquire().unwrap_err();
    let AcquireError::OwnerDied(died) = g else {
        panic!("expected OwnerDied")
    };
    died.into_inner().mark_consistent();
    assert!(lock.acquire().is_ok());
}

#[test]
fn a_value_whose_holder_was_killed_can_be_repaired() {
    let _d = deadline(LONG);
    let v = Value::new([0u64; 2]).unwrap();
    let held = Event::new().unwrap();
    let p = started(
        Process::new(half_update, (v.clone(), held.clone())),
        StartMethod::Forkserver,
    );
    kill_holder(p, &held);
    assert_eq!(v.value().unwrap_err().kind(), ErrorKind::OwnerDied);
    let mut g = v.lock().unwrap_err().into_inner();
    assert_eq!(*g, [1, 0], "the half-done update is visible");
    g[1] = 1;
    g.mark_consistent();
    drop(g);
    assert_eq!(v.value().unwrap(), [1, 1]);
}

#[test]
fn a_short_timeout_still_takes_over_from_a_dead_holder() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    let p = started(
        Process::new(hold_lock, (lock.clone(), held.clone())),
        StartMethod::Forkserver,
    );
    kill_holder(p, &held);
    // Shorter than the interval between liveness checks: the dead holder
    // must still be noticed before the timeout is reported.
    match lock.acquire_timeout(Duration::from_millis(10)) {
        Err(AcquireError::OwnerDied(died)) => died.into_inner().mark_consistent(),
        Err(AcquireError::Timeout) => panic!("a dead holder outlasted a short timeout"),
        Ok(_) => panic!("the lock looked free although its holder died holding it"),
    }
}

/// `?` from `acquire()` into `Box<dyn Error>` (the likeliest `main`): it
/// compiles because the error given to `?` lets go of the guard, and the
/// lock stays marked, so the recovery path still sees `OwnerDied`.
#[test]
fn question_mark_into_box_dyn_error_keeps_the_owner_died_mark() {
    use std::error::Error;

    fn take(lock: &Lock) -> Result<(), Box<dyn Error + Send + Sync>> {
        let _guard = lock.acquire()?;
        Ok(())
    }
    fn take_io(lock: &Lock) -> std::io::Result<()> {
        let _guard = lock.try_acquire()?;
        Ok(())
    }
    fn take_boxed(lock: &Lock) -> Result<(), Box<dyn Error>> {
        let _guard = lock.acquire_timeout(Duration::from_secs(1))?;
        Ok(())
    }

    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    let p = started(
        Process::new(hold_lock, (lock.clone(), held.clone())),
        StartMethod::Forkserver,
    );
    kill_holder(p, &held);
    let e = take(&lock).unwrap_err();
    let kind = e.downcast_ref::<mp_shm::Error>().map(mp_shm::Error::kind);
    assert_eq!(kind, Some(ErrorKind::OwnerDied), "{e}");
    assert!(!lock.is_locked(), "the guard went with the error");
    assert!(take_io(&lock).is_err(), "still marked: not repaired");
    assert!(take_boxed(&lock).is_err(), "still marked: not repaired");
    match lock.acquire() {
        Err(died) => died.into_inner().mark_consistent(),
        Ok(_) => panic!("the owner-died mark was lost on the way through `?`"),
    }
    take(&lock).unwrap();
    take_io(&lock).unwrap();
}
