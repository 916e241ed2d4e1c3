//! `Condition`: wait/notify over a `Lock` or `RLock`, with a futex
//! sequence word and notify "tokens" in shared memory.

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

use mp_internal::{Deadline, futex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AcquireError, Error, ErrorKind, LockResult, OwnerDied, Result};
use crate::lock::{Lock, LockGuard, RLock, RLockGuard, forever};
use crate::object::{self, Kind};
use crate::raw_lock::{Acquired, Owner};
use crate::sys::layout::ConditionState;
use crate::sys::memory::View;

#[derive(Clone, Debug, Serialize, Deserialize)]
enum CondLock {
    Lock(Lock),
    RLock(RLock),
}

/// A process-shared condition variable (Python's `multiprocessing.Condition`).
///
/// Hold its lock through [`acquire`](Condition::acquire), then
/// [`wait`](Condition::wait) for a [`notify`](Condition::notify) from another
/// process. Waiting or notifying without holding the lock is
/// [`ErrorKind::LockNotHeld`] (Python's `RuntimeError`). The default lock is
/// an [`RLock`], as in Python; [`with_lock`](Condition::with_lock) and
/// [`with_rlock`](Condition::with_rlock) use a given one.
///
/// `notify(n)` wakes at most `n` waiters; a waiter that starts waiting
/// while a notification is in flight may take it instead of an older one,
/// and a waiter that died leaves a spare wake-up behind (a later `wait` may
/// then return early), so re-check your predicate ([`wait_for`](Condition::wait_for)).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
/// use std::time::Duration;
#[doc = concat!("let cond = ", crate::mp_crate!(shm), "::Condition::new()?;")]
/// let mut guard = cond.acquire()?;
/// assert!(!cond.wait_timeout(&mut guard, Duration::from_millis(5))?);
/// cond.notify_all()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Condition {
    view: View<ConditionState>,
    lock: CondLock,
}

enum Inner<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

/// A [`Condition`]'s held lock; pass it to `wait`. Releases on drop.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    inner: Inner<'a>,
}

impl Condition {
    /// A condition with a new [`RLock`] (Python's `Condition()`).
    pub fn new() -> Result<Condition> {
        Condition::make(CondLock::RLock(RLock::new()?))
    }

    /// A condition over `lock` (Python's `Condition(lock)`), for example a
    /// `Value`'s lock.
    pub fn with_lock(lock: Lock) -> Result<Condition> {
        Condition::make(CondLock::Lock(lock))
    }

    /// A condition over `rlock`.
    pub fn with_rlock(rlock: RLock) -> Result<Condition> {
        Condition::make(CondLock::RLock(rlock))
    }

    fn make(lock: CondLock) -> Result<Condition> {
        Ok(Condition {
            view: object::create(Kind::Condition, 0)?,
            lock,
        })
    }

    fn acquire_with(
        &self,
        deadline: &Deadline,
    ) -> std::result::Result<ConditionGuard<'_>, AcquireError<ConditionGuard<'_>>> {
        match &self.lock {
            CondLock::Lock(l) => l
                .acquire_with(deadline)
                .map(|g| self.guard(Inner::Lock(g)))
                .map_err(|e| e.map(|g| self.guard(Inner::Lock(g)))),
            CondLock::RLock(l) => l
                .acquire_with(deadline)
                .map(|g| self.guard(Inner::RLock(g)))
                .map_err(|e| e.map(|g| self.guard(Inner::RLock(g)))),
        }
    }

    fn guard<'a>(&'a self, inner: Inner<'a>) -> ConditionGuard<'a> {
        ConditionGuard { cond: self, inner }
    }

    /// Takes the condition's lock (Python's `with cond:`).
    pub fn acquire(&self) -> LockResult<ConditionGuard<'_>> {
        forever(self.acquire_with(&Deadline::never()))
    }

    /// Takes the lock, waiting at most `timeout`.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<ConditionGuard<'_>, AcquireError<ConditionGuard<'_>>> {
        self.acquire_with(&Deadline::after(timeout))
    }

    /// Takes the lock only if it is free.
    pub fn try_acquire(
        &self,
    ) -> std::result::Result<ConditionGuard<'_>, AcquireError<ConditionGuard<'_>>> {
        self.acquire_with(&Deadline::after(Duration::ZERO))
    }

    /// Releases the lock, sleeps until notified, and re-takes the lock.
    ///
    /// A guard of another condition is [`ErrorKind::LockNotHeld`]. If the
    /// lock's holder died meanwhile, the lock is re-taken and the result is
    /// [`ErrorKind::OwnerDied`].
    pub fn wait(&self, guard: &mut ConditionGuard<'_>) -> Result<()> {
        self.wait_inner(guard, &Deadline::never()).map(|_| ())
    }

    /// [`wait`](Condition::wait) at most `timeout`; returns false if it
    /// timed out (Python's `wait(timeout)`).
    pub fn wait_timeout(&self, guard: &mut ConditionGuard<'_>, timeout: Duration) -> Result<bool> {
        self.wait_inner(guard, &Deadline::after(timeout))
    }

    /// Waits until `predicate` holds (Python's `wait_for(predicate)`); the
    /// predicate runs with the lock held and gets the guard (to read a
    /// `Value` sharing the lock with [`Value::get_with`](crate::Value::get_with)).
    pub fn wait_for(
        &self,
        guard: &mut ConditionGuard<'_>,
        mut predicate: impl FnMut(&ConditionGuard<'_>) -> bool,
    ) -> Result<()> {
        while !predicate(guard) {
            self.wait(guard)?;
        }
        Ok(())
    }

    /// [`wait_for`](Condition::wait_for) at most `timeout`; returns the
    /// predicate's last value.
    pub fn wait_for_timeout(
        &self,
        guard: &mut ConditionGuard<'_>,
        mut predicate: impl FnMut(&ConditionGuard<'_>) -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        // One deadline for every wait: together they take at most `timeout`.
        let deadline = Deadline::after(timeout);
        loop {
            if predicate(guard) {
                return Ok(true);
            }
            if deadline.passed() {
                return Ok(false);
            }
            self.wait_inner(guard, &deadline)?;
        }
    }

    fn wait_inner(&self, guard: &mut ConditionGuard<'_>, deadline: &Deadline) -> Result<bool> {
        if !guard.cond.view.same(&self.view) {
            return Err(Error::new(
                ErrorKind::LockNotHeld,
                "wait on a condition with the guard of another condition",
            ));
        }
        // The guard's own acquisition must hold the lock (not merely
        // someone): wait releases that hold and no other.
        let held = match &guard.inner {
            Inner::Lock(g) => g.holds(),
            Inner::RLock(g) => g.lock().is_owned(),
        };
        if !held {
            return Err(Error::new(
                ErrorKind::LockNotHeld,
                "the guard's acquisition no longer holds the condition's lock",
            ));
        }
        let st = self.view.get();
        st.waiters.fetch_add(1, SeqCst);
        let saved = match &guard.inner {
            Inner::Lock(g) => {
                g.lock().raw().unlock(g.word());
                (0, 0)
            }
            Inner::RLock(g) => g.lock().release_all(),
        };
        let mut notified = false;
        loop {
            let seq = st.seq.load(SeqCst);
            if take_token(&st.tokens) {
                notified = true;
                break;
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                break;
            }
            futex::wait(&st.seq, seq, left);
        }
        let acquired = match &mut guard.inner {
            Inner::Lock(g) => {
                // Pinned again: the guard is live.
                let hold = g
                    .lock()
                    .raw()
                    .lock(Owner::Process, true, &Deadline::never())
                    .expect("an unbounded wait does not time out");
                g.set_word(hold.word);
                hold.acquired
            }
            Inner::RLock(g) => g.lock().restore(saved),
        };
        if !notified {
            // A notify may have counted us after the timeout: take its token.
            if take_token(&st.tokens) {
                notified = true;
            } else {
                st.waiters.fetch_sub(1, SeqCst);
            }
        }
        match acquired {
            Acquired::Clean => Ok(notified),
            Acquired::OwnerDied => Err(OwnerDied::new(()).into()),
        }
    }

    fn check_held(&self) -> Result<()> {
        let held = match &self.lock {
            CondLock::Lock(l) => l.is_locked(),
            CondLock::RLock(l) => l.is_owned(),
        };
        if held {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::LockNotHeld,
                "cannot wait on or notify a condition without holding its lock",
            ))
        }
    }

    /// Wakes at most `n` waiters (Python's `notify(n)`); the caller must
    /// hold the lock.
    pub fn notify(&self, n: u32) -> Result<()> {
        self.check_held()?;
        let st = self.view.get();
        let k = n.min(st.waiters.load(SeqCst));
        if k == 0 {
            return Ok(());
        }
        st.waiters.fetch_sub(k, SeqCst);
        st.tokens.fetch_add(k, SeqCst);
        st.seq.fetch_add(1, SeqCst);
        futex::wake(&st.seq, k);
        Ok(())
    }

    /// Wakes every waiter (Python's `notify_all()`).
    pub fn notify_all(&self) -> Result<()> {
        self.notify(u32::MAX)
    }
}

fn take_token(tokens: &AtomicU32) -> bool {
    let mut t = tokens.load(SeqCst);
    while t > 0 {
        match tokens.compare_exchange_weak(t, t - 1, SeqCst, Relaxed) {
            Ok(_) => return true,
            Err(now) => t = now,
        }
    }
    false
}

impl<'a> ConditionGuard<'a> {
    /// The condition's lock guard, when the condition is over a [`Lock`]
    /// (for [`Value::get_with`](crate::Value::get_with)).
    pub fn lock_guard(&self) -> Option<&LockGuard<'a>> {
        match &self.inner {
            Inner::Lock(g) => Some(g),
            Inner::RLock(_) => None,
        }
    }

    /// Declares the protected data repaired after an [`OwnerDied`].
    pub fn mark_consistent(&self) {
        match &self.inner {
            Inner::Lock(g) => g.mark_consistent(),
            Inner::RLock(g) => g.mark_consistent(),
        }
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard")
            .field("cond", &self.cond)
            .finish()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &self.view.get().waiters.load(Relaxed))
            .finish()
    }
}

#[derive(Serialize)]
struct WireRef<'a> {
    #[serde(serialize_with = "ser_view")]
    view: &'a View<ConditionState>,
    lock: &'a CondLock,
}

fn ser_view<S: Serializer>(
    v: &&View<ConditionState>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    object::serialize_view(v, s)
}

struct CondView(View<ConditionState>);

impl<'de> Deserialize<'de> for CondView {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<CondView, D::Error> {
        object::deserialize_view(d, Kind::Condition).map(CondView)
    }
}

#[derive(Deserialize)]
struct WireOwned {
    view: CondView,
    lock: CondLock,
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        WireRef {
            view: &self.view,
            lock: &self.lock,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Condition, D::Error> {
        let wire = WireOwned::deserialize(d)?;
        Ok(Condition {
            view: wire.view.0,
            lock: wire.lock,
        })
    }
}
