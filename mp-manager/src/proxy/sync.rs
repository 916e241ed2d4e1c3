//! The synchronization proxies: locks, conditions, semaphores, events and
//! barriers on the server.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::object_ref::{ObjectRef, proxy_plumbing};
use crate::proxy::{boolean, count, thread_id, to_usize, unit, wait_for};
use crate::wire::{Op, Wait};

/// Holds a manager lock until dropped (from [`LockProxy::lock`],
/// [`RLockProxy::lock`], [`ConditionProxy::lock`]). It stays on the thread
/// that locked (reentrant locks are owned by threads).
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    object: &'a ObjectRef,
    _not_send: PhantomData<*const ()>,
}

impl LockGuard<'_> {
    /// Releases now, reporting a failure (dropping the guard ignores it).
    pub fn unlock(self) -> Result<()> {
        let result = release(self.object);
        std::mem::forget(self);
        result
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // A manager that is gone has released everything already.
        let _ = release(self.object);
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.object.fmt_as("LockGuard", f)
    }
}

fn acquire(object: &ObjectRef, wait: Wait) -> Result<bool> {
    let op = Op::LockAcquire {
        thread: thread_id(),
        wait,
    };
    boolean(object.call(op, wait)?.1)
}

fn release(object: &ObjectRef) -> Result<()> {
    unit(
        object
            .op(Op::LockRelease {
                thread: thread_id(),
            })?
            .1,
    )
}

/// The methods of every lock kind.
macro_rules! lock_methods {
    () => {
        /// Waits until the lock is free and takes it.
        pub fn acquire(&self) -> Result<()> {
            acquire(&self.object, Wait::Forever).map(|_| ())
        }

        /// Like [`acquire`](Self::acquire), up to `timeout`; `false` if
        /// the lock was not taken.
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
            acquire(&self.object, wait_for(timeout))
        }

        /// Takes the lock only if it is free now (Python's
        /// `acquire(blocking=False)`).
        pub fn try_acquire(&self) -> Result<bool> {
            acquire(&self.object, Wait::Now)
        }

        /// Releases the lock.
        pub fn release(&self) -> Result<()> {
            release(&self.object)
        }

        /// Takes the lock and returns a guard that releases it when dropped
        /// (Python's `with lock:`).
        pub fn lock(&self) -> Result<LockGuard<'_>> {
            self.acquire()?;
            Ok(LockGuard {
                object: &self.object,
                _not_send: PhantomData,
            })
        }

        /// Whether some thread holds the lock.
        pub fn locked(&self) -> Result<bool> {
            boolean(self.object.op(Op::LockLocked)?.1)
        }
    };
}

/// A lock on the manager's server (Python's `manager.Lock()`).
///
/// As in Python, any thread may release it. If the process holding it
/// exits or crashes, the server releases it (after about a second) instead
/// of leaving everyone else waiting forever.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let lock = manager.lock()?;
/// {
///     let _guard = lock.lock()?;
///     assert!(!lock.try_acquire()?);
/// }
/// assert!(lock.try_acquire()?);
/// # Ok(())
/// # }
/// ```
pub struct LockProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(LockProxy, [Lock]);

impl LockProxy {
    lock_methods!();
}

/// A reentrant lock on the manager's server (Python's `manager.RLock()`):
/// the thread holding it may take it again, and must release it as often.
/// Only the owning thread can release it ([`Error::NotOwner`](crate::Error::NotOwner)).
pub struct RLockProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(RLockProxy, [RLock]);

impl RLockProxy {
    lock_methods!();
}

/// A condition variable on the manager's server, with its own reentrant
/// lock (Python's `manager.Condition()`).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
/// # use std::time::Duration;
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let cond = manager.condition()?;
/// let _guard = cond.lock()?;
/// // Nobody notifies: the wait times out (and re-takes the lock).
/// assert!(!cond.wait_timeout(Duration::from_millis(50))?);
/// # Ok(())
/// # }
/// ```
pub struct ConditionProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(ConditionProxy, [Condition]);

impl ConditionProxy {
    lock_methods!();

    fn wait_op(&self, wait: Wait) -> Result<bool> {
        let op = Op::CondWait {
            thread: thread_id(),
            wait,
        };
        boolean(self.object.call(op, wait)?.1)
    }

    /// Releases the lock (which the caller must hold), waits to be
    /// notified, and takes the lock again.
    pub fn wait(&self) -> Result<()> {
        self.wait_op(Wait::Forever).map(|_| ())
    }

    /// Like [`wait`](Self::wait), up to `timeout`; `false` if not notified
    /// in time (the lock is taken again either way).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_op(wait_for(timeout))
    }

    /// Waits until `predicate` holds, checking it after each notification
    /// (Python's `wait_for`); with a timeout, returns the predicate's last
    /// value.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if predicate() {
                return Ok(true);
            }
            match deadline {
                None => self.wait()?,
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.wait_timeout(left)?;
                }
            }
        }
    }

    /// Wakes one waiter (the caller must hold the lock).
    pub fn notify(&self) -> Result<()> {
        self.notify_n(1)
    }

    /// Wakes up to `n` waiters.
    pub fn notify_n(&self, n: usize) -> Result<()> {
        let op = Op::CondNotify {
            thread: thread_id(),
            n: n as u64,
        };
        unit(self.object.op(op)?.1)
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) -> Result<()> {
        self.notify_n(usize::MAX)
    }
}

/// A semaphore on the manager's server (Python's `manager.Semaphore(n)` and
/// `manager.BoundedSemaphore(n)`).
pub struct SemaphoreProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(SemaphoreProxy, [Semaphore]);

impl SemaphoreProxy {
    fn acquire_op(&self, wait: Wait) -> Result<bool> {
        boolean(self.object.call(Op::SemAcquire(wait), wait)?.1)
    }

    /// Waits for a permit and takes it.
    pub fn acquire(&self) -> Result<()> {
        self.acquire_op(Wait::Forever).map(|_| ())
    }

    /// Like [`acquire`](Self::acquire), up to `timeout`; `false` if no
    /// permit was taken.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.acquire_op(wait_for(timeout))
    }

    /// Takes a permit only if one is free now.
    pub fn try_acquire(&self) -> Result<bool> {
        self.acquire_op(Wait::Now)
    }

    /// Returns a permit. A bounded semaphore refuses to go above its initial
    /// value ([`Error::TooManyReleases`](crate::Error::TooManyReleases)).
    pub fn release(&self) -> Result<()> {
        self.release_n(1)
    }

    /// Returns `n` permits.
    pub fn release_n(&self, n: usize) -> Result<()> {
        unit(self.object.op(Op::SemRelease(n as u64))?.1)
    }

    /// The number of free permits.
    pub fn get_value(&self) -> Result<usize> {
        count(self.object.op(Op::SemValue)?.1).map(to_usize)
    }
}

/// An event on the manager's server (Python's `manager.Event()`).
pub struct EventProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(EventProxy, [Event]);

impl EventProxy {
    /// Sets the flag and wakes every waiter.
    pub fn set(&self) -> Result<()> {
        unit(self.object.op(Op::EvSet)?.1)
    }

    /// Clears the flag.
    pub fn clear(&self) -> Result<()> {
        unit(self.object.op(Op::EvClear)?.1)
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> Result<bool> {
        boolean(self.object.op(Op::EvIsSet)?.1)
    }

    /// Waits until the flag is set.
    pub fn wait(&self) -> Result<()> {
        boolean(
            self.object
                .call(Op::EvWait(Wait::Forever), Wait::Forever)?
                .1,
        )
        .map(|_| ())
    }

    /// Like [`wait`](Self::wait), up to `timeout`; returns the flag.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        let wait = wait_for(timeout);
        boolean(self.object.call(Op::EvWait(wait), wait)?.1)
    }
}

/// A barrier on the manager's server (Python's `manager.Barrier(parties)`).
///
/// A waiter that times out, or whose process vanishes while waiting, breaks
/// the barrier: the others get [`Error::BrokenBarrier`](crate::Error::BrokenBarrier)
/// instead of waiting forever.
pub struct BarrierProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(BarrierProxy, [Barrier]);

impl BarrierProxy {
    fn wait_op(&self, wait: Wait) -> Result<usize> {
        count(self.object.call(Op::BarWait(wait), wait)?.1).map(to_usize)
    }

    /// Waits until `parties` callers are waiting; returns this caller's
    /// arrival index (`0..parties`).
    pub fn wait(&self) -> Result<usize> {
        self.wait_op(Wait::Forever)
    }

    /// Like [`wait`](Self::wait), up to `timeout` (after which the barrier
    /// is broken, as in Python).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_op(Wait::For(timeout))
    }

    /// Returns the barrier to its initial state; current waiters get
    /// [`Error::BrokenBarrier`](crate::Error::BrokenBarrier).
    pub fn reset(&self) -> Result<()> {
        unit(self.object.op(Op::BarReset)?.1)
    }

    /// Breaks the barrier: current and future waiters fail until `reset`.
    pub fn abort(&self) -> Result<()> {
        unit(self.object.op(Op::BarAbort)?.1)
    }

    /// The number of parties.
    pub fn parties(&self) -> Result<usize> {
        count(self.object.op(Op::BarParties)?.1).map(to_usize)
    }

    /// The number of callers waiting now.
    pub fn n_waiting(&self) -> Result<usize> {
        count(self.object.op(Op::BarWaiting)?.1).map(to_usize)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> Result<bool> {
        boolean(self.object.op(Op::BarBroken)?.1)
    }
}
