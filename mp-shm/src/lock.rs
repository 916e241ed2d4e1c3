//! `Lock` and `RLock`: robust futex locks in shared memory.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use mp_internal::Deadline;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AcquireError, Error, ErrorKind, LockResult, OwnerDied, Result};
use crate::identity;
use crate::object::{self, Kind};
use crate::raw_lock::{Acquired, CONTENDED, Hold, Owner, ReleaseError, TimedOut};
use crate::sys::layout::{LockState, RawLockState};
use crate::sys::memory::View;

/// A process-shared lock (Python's `multiprocessing.Lock`).
///
/// It lives in shared memory and is shared with another process by passing
/// a clone to it (`Process::new(f, (lock.clone(),))`); every clone is the
/// same lock.
///
/// [`acquire`](Lock::acquire) returns a guard that releases on drop. While
/// the guard lives, nobody else can release the lock, so what the guard
/// protects ([`Value::get_with`](crate::Value::get_with)) really is
/// exclusive. CPython's free-standing `acquire()` ... `release()`, where
/// any process or thread may release, is [`LockGuard::forget`] then
/// [`release`](Lock::release) from anywhere.
///
/// If the process holding the lock dies, the next acquirer gets it inside
/// an [`OwnerDied`] instead of waiting forever, within about a millisecond
/// of the death (a waiter is woken through a pidfd of the holder). A holder
/// in another pid namespace, whose life this process cannot see, is never
/// taken over.
///
/// Acquiring it twice from one thread deadlocks (it is not recursive; use
/// [`RLock`] for that), unless you use [`acquire_timeout`](Lock::acquire_timeout).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let lock = ", crate::mp_crate!(shm), "::Lock::new()?;")]
/// {
///     let _guard = lock.acquire()?;
///     assert!(lock.try_acquire().is_err());
/// }
/// assert!(lock.try_acquire().is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Lock {
    view: View<LockState>,
}

/// A held [`Lock`]; releases it on drop.
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    /// The hold's word: which acquisition this guard is.
    word: u32,
}

impl Lock {
    /// A new, unlocked lock in its own shared memory.
    pub fn new() -> Result<Lock> {
        Ok(Lock {
            view: object::create(Kind::Lock, 0)?,
        })
    }

    pub(crate) fn from_view(view: View<LockState>) -> Lock {
        Lock { view }
    }

    #[inline]
    pub(crate) fn raw(&self) -> &RawLockState {
        &self.view.get().raw
    }

    /// Whether `self` and `other` are the same shared lock.
    pub fn same_as(&self, other: &Lock) -> bool {
        self.view.same(&other.view)
    }

    #[inline]
    pub(crate) fn acquire_with(
        &self,
        deadline: &Deadline,
    ) -> std::result::Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        let me = identity::process();
        match self.raw().lock_as(me, Owner::Process, true, deadline) {
            Ok(Hold { word, acquired }) => {
                let guard = LockGuard { lock: self, word };
                match acquired {
                    Acquired::Clean => Ok(guard),
                    Acquired::OwnerDied => Err(AcquireError::OwnerDied(OwnerDied::new(guard))),
                }
            }
            Err(TimedOut) => Err(AcquireError::Timeout),
        }
    }

    /// Blocks until the lock is free and takes it (Python's `acquire()`).
    ///
    /// `?` works into any error type (`Box<dyn Error>`, `io::Error`,
    /// [`Error`]): an [`OwnerDied`] then becomes an error of kind
    /// [`ErrorKind::OwnerDied`] and the guard is dropped, leaving the lock
    /// marked for the next acquirer. To recover instead, match the
    /// `OwnerDied` and take its guard:
    ///
    /// ```
    /// use std::error::Error;
    ///
    /// fn main() -> Result<(), Box<dyn Error>> {
    #[doc = concat!("    let lock = ", crate::mp_crate!(shm), "::Lock::new()?;")]
    ///     {
    ///         let _guard = lock.acquire()?;
    ///     }
    ///     let guard = match lock.acquire() {
    ///         Ok(guard) => guard,
    ///         Err(died) => {
    ///             let guard = died.into_inner();
    ///             // ... repair what the dead holder left half-done ...
    ///             guard.mark_consistent();
    ///             guard
    ///         }
    ///     };
    ///     drop(guard);
    ///     Ok(())
    /// }
    /// ```
    pub fn acquire(&self) -> LockResult<LockGuard<'_>> {
        forever(self.acquire_with(&Deadline::never()))
    }

    /// Waits at most `timeout` (Python's `acquire(timeout=t)`).
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        self.acquire_with(&Deadline::after(timeout))
    }

    /// Takes the lock only if it is free (Python's `acquire(False)`).
    ///
    /// If the holder has died, the lock is taken over at once
    /// ([`AcquireError::OwnerDied`]). On a held lock it costs a table
    /// look-up to see whether the holder lives (after the first call for
    /// that holder, which opens a pidfd and reads `/proc`).
    #[doc(alias = "acquire_nowait")]
    pub fn try_acquire(&self) -> std::result::Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        self.acquire_with(&Deadline::after(Duration::ZERO))
    }

    /// Releases the lock held without a guard, whoever holds it (Python's
    /// `release()`, which any process may call): the other half of
    /// [`LockGuard::forget`].
    ///
    /// Releasing an unlocked lock is [`ErrorKind::NotLocked`]; a lock held
    /// by a live guard ([`LockGuard`], or a `Value`/`Array` guard) is
    /// [`ErrorKind::HeldByGuard`]: only that guard releases it.
    pub fn release(&self) -> Result<()> {
        self.raw().release_unpinned(None).map_err(release_error)
    }

    /// Releases the lock if the process `pid` holds it without a guard;
    /// whether it did.
    ///
    /// For protocols in which one process releases a lock on behalf of
    /// another that keeps it without a guard ([`LockGuard::forget`]):
    /// unlike [`release`](Self::release), it never releases a process that
    /// took the lock over meanwhile (from a holder that died). A hold with
    /// a live guard is never released (it is the guard's).
    pub fn release_if_held_by(&self, pid: u32) -> bool {
        pid != 0 && self.raw().release_unpinned(Some(pid)).is_ok()
    }

    /// Whether some process holds the lock right now.
    pub fn is_locked(&self) -> bool {
        self.raw().is_locked()
    }

    /// False after a holder died, until a guard's `mark_consistent`.
    pub fn is_consistent(&self) -> bool {
        self.raw().is_consistent()
    }
}

fn release_error(e: ReleaseError) -> Error {
    match e {
        ReleaseError::NotLocked => Error::new(ErrorKind::NotLocked, "release of an unlocked lock"),
        ReleaseError::Pinned => Error::new(
            ErrorKind::HeldByGuard,
            "the lock is held by a live guard and only that guard can release it",
        ),
        ReleaseError::OtherHolder => {
            Error::new(ErrorKind::NotOwner, "the lock is held by another process")
        }
    }
}

#[inline]
pub(crate) fn forever<G>(r: std::result::Result<G, AcquireError<G>>) -> LockResult<G> {
    match r {
        Ok(g) => Ok(g),
        Err(AcquireError::OwnerDied(e)) => Err(e),
        Err(AcquireError::Timeout) => unreachable!("an unbounded wait does not time out"),
    }
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }

    /// Declares the protected data repaired after an [`OwnerDied`]
    /// (`pthread_mutex_consistent`): later acquirers get clean guards.
    pub fn mark_consistent(&self) {
        self.lock.raw().mark_consistent();
    }

    /// Releases the lock now (the same as dropping the guard).
    pub fn release(self) {}

    /// Keeps the lock held without a guard: it stays locked until some
    /// process calls [`Lock::release`] (CPython's `acquire()` without
    /// `release()`).
    pub fn forget(self) {
        self.lock.raw().unpin(self.word);
        std::mem::forget(self);
    }

    /// Whether this guard's acquisition still holds the lock. Always true
    /// for a live guard (nobody else can release it), unless its process
    /// was wrongly judged dead; what it guards is reached only then.
    pub(crate) fn holds(&self) -> bool {
        self.lock.raw().holds(self.word)
    }

    /// The hold's word.
    pub(crate) fn word(&self) -> u32 {
        self.word
    }

    /// After `Condition::wait` re-took the lock: the new hold's word.
    pub(crate) fn set_word(&mut self, word: u32) {
        self.word = word;
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Releases this acquisition only: never a hold another guard took.
        let _ = self.lock.raw().unlock(self.word);
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", &self.lock)
            .finish()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("holder", &self.raw().holder())
            .field("consistent", &self.is_consistent())
            .finish()
    }
}

impl Serialize for Lock {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        object::serialize_view(&self.view, serializer)
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Lock, D::Error> {
        object::deserialize_view(deserializer, Kind::Lock).map(Lock::from_view)
    }
}

/// A process-shared recursive lock (Python's `multiprocessing.RLock`).
///
/// The thread that holds it may acquire it again; it is free once every
/// acquisition is released. Only the holding thread may release it:
/// [`release`](RLock::release) by another thread or process is
/// [`ErrorKind::NotOwner`], and past zero [`ErrorKind::NotLocked`]. If the
/// holding thread dies (or its process), the next acquirer gets the lock
/// inside an [`OwnerDied`].
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let rlock = ", crate::mp_crate!(shm), "::RLock::new()?;")]
/// let outer = rlock.acquire()?;
/// let inner = rlock.acquire()?; // same thread: no deadlock
/// drop(inner);
/// drop(outer);
/// assert!(rlock.release().is_err()); // past zero
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RLock {
    view: View<LockState>,
}

/// One level of a held [`RLock`]; releases it on drop. Not `Send`: the
/// lock belongs to the thread that acquired it.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _thread: PhantomData<*const ()>,
}

impl RLock {
    /// A new, unlocked recursive lock in its own shared memory.
    pub fn new() -> Result<RLock> {
        Ok(RLock {
            view: object::create(Kind::RLock, 0)?,
        })
    }

    pub(crate) fn raw(&self) -> &RawLockState {
        &self.view.get().raw
    }

    /// Whether `self` and `other` are the same shared lock.
    pub fn same_as(&self, other: &RLock) -> bool {
        self.view.same(&other.view)
    }

    pub(crate) fn acquire_with(
        &self,
        deadline: &Deadline,
    ) -> std::result::Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        let guard = RLockGuard {
            lock: self,
            _thread: PhantomData,
        };
        let raw = self.raw();
        let me = identity::thread();
        if raw.held_by(me) {
            raw.count.fetch_add(1, Relaxed);
            return Ok(guard);
        }
        match raw.lock_as(me, Owner::Thread, false, deadline) {
            Ok(hold) => {
                raw.count.store(1, Relaxed);
                raw.forgotten.store(0, Relaxed);
                match hold.acquired {
                    Acquired::Clean => Ok(guard),
                    Acquired::OwnerDied => Err(AcquireError::OwnerDied(OwnerDied::new(guard))),
                }
            }
            Err(TimedOut) => {
                std::mem::forget(guard);
                Err(AcquireError::Timeout)
            }
        }
    }

    /// Blocks until this thread holds the lock (Python's `acquire()`).
    pub fn acquire(&self) -> LockResult<RLockGuard<'_>> {
        forever(self.acquire_with(&Deadline::never()))
    }

    /// Waits at most `timeout`.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        self.acquire_with(&Deadline::after(timeout))
    }

    /// Takes the lock only if it is free or already this thread's.
    pub fn try_acquire(&self) -> std::result::Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        self.acquire_with(&Deadline::after(Duration::ZERO))
    }

    /// Releases one level that this thread holds without a guard (after
    /// [`RLockGuard::forget`]).
    ///
    /// Past zero is [`ErrorKind::NotLocked`]; from another thread or
    /// process, [`ErrorKind::NotOwner`]; a level held by a live guard is
    /// that guard's to release ([`ErrorKind::HeldByGuard`]).
    pub fn release(&self) -> Result<()> {
        let raw = self.raw();
        if !raw.is_locked() || raw.count.load(Relaxed) == 0 {
            return Err(Error::new(
                ErrorKind::NotLocked,
                "release of an unlocked RLock",
            ));
        }
        if !self.is_owned() {
            return Err(Error::new(
                ErrorKind::NotOwner,
                "cannot release an RLock held by another thread or process",
            ));
        }
        let forgotten = raw.forgotten.load(Relaxed);
        if forgotten == 0 {
            return Err(Error::new(
                ErrorKind::HeldByGuard,
                "every level of the RLock is held by a live guard: drop the guard instead",
            ));
        }
        raw.forgotten.store(forgotten - 1, Relaxed);
        self.release_one();
        Ok(())
    }

    /// Gives up one level of a lock this thread holds.
    fn release_one(&self) {
        let raw = self.raw();
        let left = raw.count.load(Relaxed).saturating_sub(1);
        raw.count.store(left, Relaxed);
        if left == 0 {
            // Ours (checked by the callers): the word names our hold.
            raw.unlock(raw.word.load(Relaxed) & !CONTENDED);
        }
    }

    /// Whether the calling thread holds the lock (Python's `_is_owned()`).
    pub fn is_owned(&self) -> bool {
        self.raw().held_by(identity::thread())
    }

    /// How many times the holder has acquired it (0 when free).
    pub fn count(&self) -> u32 {
        if self.raw().is_locked() {
            self.raw().count.load(Relaxed)
        } else {
            0
        }
    }

    /// False after a holder died, until a guard's `mark_consistent`.
    pub fn is_consistent(&self) -> bool {
        self.raw().is_consistent()
    }

    /// Releases every level this thread holds and returns how many, and how
    /// many of them without a guard (Python's `_release_save`, for
    /// `Condition::wait`; the caller holds the lock).
    pub(crate) fn release_all(&self) -> (u32, u32) {
        let raw = self.raw();
        let count = raw.count.swap(0, Relaxed);
        let forgotten = raw.forgotten.swap(0, Relaxed);
        raw.unlock(raw.word.load(Relaxed) & !CONTENDED);
        (count, forgotten)
    }

    /// Re-takes the lock as [`release_all`](Self::release_all) left it
    /// (Python's `_acquire_restore`).
    pub(crate) fn restore(&self, (count, forgotten): (u32, u32)) -> Acquired {
        let raw = self.raw();
        let hold = raw
            .lock(Owner::Thread, false, &Deadline::never())
            .expect("an unbounded wait does not time out");
        raw.count.store(count.max(1), Relaxed);
        raw.forgotten
            .store(forgotten.min(count.max(1) - 1), Relaxed);
        hold.acquired
    }
}

impl<'a> RLockGuard<'a> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &'a RLock {
        self.lock
    }

    /// Declares the protected data repaired after an [`OwnerDied`].
    pub fn mark_consistent(&self) {
        self.lock.raw().mark_consistent();
    }

    /// Releases this level now (the same as dropping the guard).
    pub fn release(self) {}

    /// Keeps this level held without a guard, to be released by
    /// [`RLock::release`] from this thread.
    pub fn forget(self) {
        let raw = self.lock.raw();
        if self.lock.is_owned() {
            raw.forgotten.fetch_add(1, Relaxed);
        }
        std::mem::forget(self);
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        if self.lock.is_owned() {
            self.lock.release_one();
        }
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("lock", &self.lock)
            .finish()
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("holder", &self.raw().holder())
            .field("count", &self.count())
            .field("consistent", &self.is_consistent())
            .finish()
    }
}

impl Serialize for RLock {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        object::serialize_view(&self.view, serializer)
    }
}

impl<'de> Deserialize<'de> for RLock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<RLock, D::Error> {
        object::deserialize_view(deserializer, Kind::RLock).map(|view| RLock { view })
    }
}
