//! The robust futex mutex under every lock of the crate.
//!
//! The futex word holds the owner's id (a pid for process-owned locks, a
//! tid for thread-owned ones) plus two flags; the owner's start time sits
//! next to it. A waiter sleeps with a bounded futex timeout and, every
//! [`CHECK_INTERVAL`], checks that the owner still exists (and is not a
//! reused id); if it died, the waiter takes the lock over with a CAS and
//! reports [`Acquired::OwnerDied`]. No glibc robust list is involved.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::identity;
use crate::sys::layout::RawLockState;

/// Owner id bits of the futex word (pids and tids are below 2^22 on Linux).
pub(crate) const ID_MASK: u32 = 0x3fff_ffff;
/// The holder hands out references into shared data: `release()` by anyone
/// else is refused.
pub(crate) const PINNED: u32 = 1 << 30;
/// Waiters may be asleep: the releaser must wake one.
pub(crate) const CONTENDED: u32 = 1 << 31;

/// How often a sleeping waiter checks that the holder still exists.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Polls (with exponential backoff, at most `1 << SPIN_SHIFT` pauses each)
/// before a futex sleep: a cross-core futex wake-up costs ~50 µs on an idle
/// core, a spinning hand-off well under 1 µs (see the `shm` bench).
const SPINS: u32 = 40;
const SPIN_SHIFT: u32 = 6;

/// Who owns a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The process (`Lock`: any thread may release; the lock is abandoned
    /// only when the whole process is gone).
    Process,
    /// The thread (`RLock`).
    Thread,
}

impl Owner {
    #[inline]
    pub(crate) fn me(self) -> (u32, u64) {
        match self {
            Owner::Process => identity::process(),
            Owner::Thread => identity::thread(),
        }
    }
}

/// How long to wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    Forever,
    Until(Instant),
    /// One attempt (plus a check whether the holder died).
    Never,
}

impl Wait {
    pub(crate) fn timeout(d: Duration) -> Wait {
        match Instant::now().checked_add(d) {
            Some(t) => Wait::Until(t),
            None => Wait::Forever,
        }
    }

    /// Time left, `None` for forever; `Some(ZERO)` once expired.
    pub(crate) fn left(self) -> Option<Duration> {
        match self {
            Wait::Forever => None,
            Wait::Until(t) => Some(t.saturating_duration_since(Instant::now())),
            Wait::Never => Some(Duration::ZERO),
        }
    }
}

/// A successful acquisition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    Clean,
    /// The previous holder died (now, or earlier and nobody marked the
    /// data consistent since).
    OwnerDied,
}

/// The lock stayed held for the whole wait.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Sleeps on `word` while it equals `expected`, at most `left` (forever for
/// `None`). Returns on wake-up, timeout, signal or a changed word alike.
pub(crate) fn futex_wait(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    left: Option<Duration>,
) {
    let ts = left.map(|d| futex::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as _,
    });
    // Errors are EAGAIN (word changed), ETIMEDOUT and EINTR: all mean "look again".
    let _ = futex::wait(word, futex::Flags::empty(), expected, ts.as_ref());
}

/// Wakes up to `n` sleepers on `word`.
pub(crate) fn futex_wake(word: &std::sync::atomic::AtomicU32, n: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), n);
}

impl RawLockState {
    /// Acquires for `owner`; `pinned` marks a holder that hands out references.
    #[inline]
    pub(crate) fn lock(
        &self,
        owner: Owner,
        pinned: bool,
        wait: Wait,
    ) -> Result<Acquired, TimedOut> {
        let (id, start) = owner.me();
        self.lock_as(id, start, owner, pinned, wait)
    }

    /// [`lock`](Self::lock) for the caller's already known `(id, start)`.
    #[inline]
    pub(crate) fn lock_as(
        &self,
        id: u32,
        start: u64,
        owner: Owner,
        pinned: bool,
        wait: Wait,
    ) -> Result<Acquired, TimedOut> {
        let mine = id | if pinned { PINNED } else { 0 };
        if self
            .word
            .compare_exchange(0, mine, Acquire, Relaxed)
            .is_ok()
        {
            return Ok(self.acquired(start));
        }
        self.lock_slow(owner, mine, start, wait)
    }

    #[inline]
    fn acquired(&self, start: u64) -> Acquired {
        self.owner_start.store(start, Relaxed);
        if self.inconsistent.load(Relaxed) != 0 {
            Acquired::OwnerDied
        } else {
            Acquired::Clean
        }
    }

    #[cold]
    fn lock_slow(
        &self,
        owner: Owner,
        mine: u32,
        start: u64,
        wait: Wait,
    ) -> Result<Acquired, TimedOut> {
        // Spins count up to SPINS; none on one CPU, where the holder cannot
        // release while we spin.
        let first_spin = SPINS - mp_internal::spin::rounds(SPINS);
        let mut spins = first_spin;
        let mut slept = false;
        let mut next_check = match wait {
            Wait::Never => Some(Instant::now()),
            _ => None,
        };
        loop {
            let w = self.word.load(Relaxed);
            if w == 0 {
                // After a sleep, others may be asleep too: keep the flag.
                let new = mine | if slept { CONTENDED } else { 0 };
                if self.word.compare_exchange(0, new, Acquire, Relaxed).is_ok() {
                    return Ok(self.acquired(start));
                }
                continue;
            }
            if spins < SPINS && !matches!(wait, Wait::Never) {
                // Exponential backoff: a holder that re-locks at once keeps
                // the cache line instead of bouncing it on every poll.
                for _ in 0..(1u32 << spins.min(SPIN_SHIFT)) {
                    std::hint::spin_loop();
                }
                spins += 1;
                continue;
            }
            let now = Instant::now();
            let check_at = *next_check.get_or_insert(now + CHECK_INTERVAL);
            if now >= check_at {
                next_check = Some(now + CHECK_INTERVAL);
                if let Some(acquired) = self.take_over_if_dead(owner, w, mine, start) {
                    return Ok(acquired);
                }
            }
            let left = wait.left();
            if left == Some(Duration::ZERO) {
                // Out of time: but a dead holder must not win against a
                // short timeout (it would never be noticed), so look once.
                if let Some(acquired) = self.take_over_if_dead(owner, w, mine, start) {
                    return Ok(acquired);
                }
                return Err(TimedOut);
            }
            if w & CONTENDED == 0
                && self
                    .word
                    .compare_exchange(w, w | CONTENDED, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            let until_check = check_at
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            let nap = left.map_or(until_check, |l| l.min(until_check));
            futex_wait(&self.word, w | CONTENDED, Some(nap));
            slept = true;
            spins = first_spin;
        }
    }

    /// If the holder recorded in `w` is dead, takes the lock over.
    #[cold]
    fn take_over_if_dead(&self, _owner: Owner, w: u32, mine: u32, start: u64) -> Option<Acquired> {
        let holder = w & ID_MASK;
        if holder == 0 {
            return None;
        }
        let holder_start = self.owner_start.load(Acquire);
        if identity::is_alive(holder, holder_start) {
            return None;
        }
        // Keep CONTENDED: other waiters may be asleep.
        self.word
            .compare_exchange(w, mine | CONTENDED, AcqRel, Relaxed)
            .ok()?;
        self.inconsistent.store(1, Relaxed);
        self.count.store(0, Relaxed);
        self.owner_start.store(start, Relaxed);
        Some(Acquired::OwnerDied)
    }

    /// Releases unconditionally.
    #[inline]
    pub(crate) fn unlock(&self) {
        self.owner_start.store(0, Relaxed);
        let w = self.word.swap(0, Release);
        if w & CONTENDED != 0 {
            futex_wake(&self.word, 1);
        }
    }

    /// Releases if the word still names `id` (a guard whose lock was
    /// released by another process does not release the next holder's);
    /// whether it did.
    #[inline]
    pub(crate) fn unlock_if_held_by(&self, id: u32) -> bool {
        let w = self.word.load(Relaxed);
        if w & ID_MASK != id {
            return false;
        }
        self.owner_start.store(0, Relaxed);
        match self.word.compare_exchange(w, 0, Release, Relaxed) {
            Ok(w) => {
                if w & CONTENDED != 0 {
                    futex_wake(&self.word, 1);
                }
                true
            }
            // A waiter set CONTENDED meanwhile; the owner is still us.
            Err(now) if now & ID_MASK == id => {
                self.unlock();
                true
            }
            Err(_) => false,
        }
    }

    /// The holder's id (0 when free).
    pub(crate) fn holder(&self) -> u32 {
        self.word.load(Relaxed) & ID_MASK
    }

    /// Clears the owner-died mark.
    pub(crate) fn mark_consistent(&self) {
        self.inconsistent.store(0, Relaxed);
    }

    pub(crate) fn is_consistent(&self) -> bool {
        self.inconsistent.load(Relaxed) == 0
    }
}

/// Why a holder-less release failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReleaseError {
    NotLocked,
    Pinned,
}

impl RawLockState {
    /// Releases whoever holds it (CPython's `Lock.release` from any
    /// process), except a pinned holder.
    pub(crate) fn release_any(&self) -> Result<(), ReleaseError> {
        loop {
            let w = self.word.load(Relaxed);
            if w & ID_MASK == 0 {
                return Err(ReleaseError::NotLocked);
            }
            if w & PINNED != 0 {
                return Err(ReleaseError::Pinned);
            }
            if self.word.compare_exchange(w, 0, Release, Relaxed).is_ok() {
                if w & CONTENDED != 0 {
                    futex_wake(&self.word, 1);
                }
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::layout::RawLockState;
    use std::sync::atomic::{AtomicU32, AtomicU64};

    fn state() -> RawLockState {
        RawLockState {
            word: AtomicU32::new(0),
            count: AtomicU32::new(0),
            owner_start: AtomicU64::new(0),
            inconsistent: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
        }
    }

    #[test]
    fn lock_unlock_and_release_rules() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let s = state();
        assert_eq!(
            s.lock(Owner::Process, false, Wait::Never).unwrap(),
            Acquired::Clean
        );
        assert_eq!(s.holder(), identity::process().0);
        assert!(s.lock(Owner::Process, false, Wait::Never).is_err());
        assert!(!s.unlock_if_held_by(12345));
        assert_ne!(s.holder(), 0, "another id does not release it");
        assert_eq!(s.release_any(), Ok(()));
        assert_eq!(s.release_any(), Err(ReleaseError::NotLocked));
        s.lock(Owner::Process, true, Wait::Never).unwrap();
        assert_eq!(s.release_any(), Err(ReleaseError::Pinned));
        s.unlock();
        assert_eq!(s.holder(), 0);
    }

    #[test]
    fn a_dead_holder_is_taken_over() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let s = state();
        // A holder id that cannot exist (above pid_max), with a start time.
        s.word.store(0x3fff_fff0, Relaxed);
        s.owner_start.store(1, Relaxed);
        assert_eq!(
            s.lock(Owner::Process, false, Wait::Never).unwrap(),
            Acquired::OwnerDied
        );
        assert!(!s.is_consistent());
        s.unlock();
        assert_eq!(
            s.lock(Owner::Process, false, Wait::Never).unwrap(),
            Acquired::OwnerDied
        );
        s.mark_consistent();
        s.unlock();
        assert_eq!(
            s.lock(Owner::Process, false, Wait::Never).unwrap(),
            Acquired::Clean
        );
    }

    #[test]
    fn a_timed_wait_on_a_live_holder_times_out() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let s = state();
        s.lock(Owner::Process, false, Wait::Forever).unwrap();
        let t = Instant::now();
        let other = std::thread::spawn(move || {
            let r = s.lock(
                Owner::Thread,
                false,
                Wait::timeout(Duration::from_millis(120)),
            );
            (r.is_err(), s)
        });
        let (timed_out, _s) = other.join().unwrap();
        assert!(timed_out);
        assert!(t.elapsed() >= Duration::from_millis(120));
    }
}
