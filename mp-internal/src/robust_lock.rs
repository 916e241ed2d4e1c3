//! A small robust lock for shared memory: a futex word that names the
//! holding process, taken over when that process died.
//!
//! The word holds the holder's pid (and a flag for sleeping waiters); its
//! start time sits next to it, so that a pid reused by a newer process does
//! not pass for the holder. A waiter spins briefly, then sleeps on the word
//! in slices, and after each slice looks whether the holder still exists;
//! if not, it takes the lock over and learns so ([`Acquired::OwnerDied`]),
//! and repairs whatever the dead holder left half done.
//!
//! The lock is owned by a process, not a thread: any thread of the holding
//! process may release it, and a thread of the holding process that tries
//! to take it waits like any other waiter. Every field is an atomic, so
//! any bytes (a zeroed page included) are a valid, free lock.
//!
//! mp-shm's `Lock` is the full-featured lock for users (recursion, pinned
//! holders, a persistent "inconsistent" state); this one is the minimum a
//! crate below mp-shm needs (mp-pipe's shared-memory connections).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Deadline, futex, identity};

/// Waiters may be asleep: the releaser wakes one.
const CONTENDED: u32 = 1 << 31;

/// How long a waiter spins before it sleeps.
const SPIN_FOR: Duration = Duration::from_micros(20);

/// How often a sleeping waiter looks whether the holder still exists.
pub const CHECK_EVERY: Duration = Duration::from_millis(50);

/// A process-shared lock that survives its holder's death (see the module
/// docs). Lives in shared memory; `Default` (all zero) is unlocked.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RobustLock {
    /// The holder's pid, with [`CONTENDED`]; 0 when free.
    word: AtomicU32,
    /// The holder's start time (0 while unknown: the holder is then
    /// judged by its pid alone).
    start: AtomicU64,
}

/// How a lock was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Acquired {
    /// From a live holder (or free).
    Clean,
    /// From a holder that died holding it: what it guarded may be half done.
    OwnerDied,
}

impl RobustLock {
    /// Takes the lock without waiting: `None` if a live process holds it.
    #[inline]
    pub fn try_lock(&self) -> Option<Acquired> {
        let (pid, start) = identity::process();
        if self.cas_free(pid, start) {
            return Some(Acquired::Clean);
        }
        self.take_over_if_dead(pid, start)
    }

    /// Takes the lock, waiting until `deadline`: `None` if it passed first.
    #[inline]
    pub fn lock(&self, deadline: &Deadline) -> Option<Acquired> {
        let (pid, start) = identity::process();
        if self.cas_free(pid, start) {
            return Some(Acquired::Clean);
        }
        self.lock_slow(pid, start, deadline)
    }

    /// Releases the lock (the caller holds it).
    #[inline]
    pub fn unlock(&self) {
        // Start time first: whoever sees the next holder's pid sees 0 or
        // that holder's start here, never ours (see `take_over_if_dead`).
        self.start.store(0, Ordering::Relaxed);
        if self.word.swap(0, Ordering::Release) & CONTENDED != 0 {
            futex::wake(&self.word, 1);
        }
    }

    /// The holder's pid, 0 when free.
    pub fn holder(&self) -> u32 {
        self.word.load(Ordering::Acquire) & !CONTENDED
    }

    #[inline]
    fn cas_free(&self, pid: u32, start: u64) -> bool {
        let taken = self
            .word
            .compare_exchange(0, pid, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if taken {
            self.start.store(start, Ordering::Relaxed);
        }
        taken
    }

    #[cold]
    fn lock_slow(&self, pid: u32, start: u64, deadline: &Deadline) -> Option<Acquired> {
        if crate::spin::until(SPIN_FOR, || self.word.load(Ordering::Relaxed) == 0)
            && self.cas_free(pid, start)
        {
            return Some(Acquired::Clean);
        }
        let mut next_check = Instant::now();
        loop {
            let w = self.word.load(Ordering::Relaxed);
            if w == 0 {
                // Others may sleep too: keep the flag for them.
                if self
                    .word
                    .compare_exchange(0, pid | CONTENDED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.start.store(start, Ordering::Relaxed);
                    return Some(Acquired::Clean);
                }
                continue;
            }
            let now = Instant::now();
            if now >= next_check {
                next_check = now + CHECK_EVERY;
                if let Some(acquired) = self.take_over_if_dead(pid, start) {
                    return Some(acquired);
                }
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                return None;
            }
            if w & CONTENDED == 0
                && self
                    .word
                    .compare_exchange(w, w | CONTENDED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let nap = next_check.saturating_duration_since(now);
            let nap = left.map_or(nap, |left| left.min(nap));
            futex::wait(
                &self.word,
                w | CONTENDED,
                Some(nap.max(Duration::from_micros(100))),
            );
        }
    }

    /// Takes the lock over if its holder no longer exists.
    #[cold]
    fn take_over_if_dead(&self, pid: u32, start: u64) -> Option<Acquired> {
        let w = self.word.load(Ordering::Acquire);
        let holder = w & !CONTENDED;
        if holder == 0 {
            return self.cas_free(pid, start).then_some(Acquired::Clean);
        }
        // The unlock that preceded this holder stored 0 here before it
        // freed the word, and this holder's CAS continued that release
        // sequence: this is 0 or the holder's own start time.
        let holder_start = self.start.load(Ordering::Relaxed);
        if identity::is_alive(holder, holder_start) {
            return None;
        }
        // Keep the flag: other waiters may be asleep.
        self.word
            .compare_exchange(w, pid | CONTENDED, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        self.start.store(start, Ordering::Relaxed);
        Some(Acquired::OwnerDied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_lock_is_taken_and_a_held_one_waits_until_its_deadline() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let lock = RobustLock::default();
        assert_eq!(lock.try_lock(), Some(Acquired::Clean));
        assert_eq!(lock.holder(), std::process::id());
        // Held by a live process (this one): others wait.
        assert_eq!(lock.try_lock(), None);
        let t = Instant::now();
        assert_eq!(lock.lock(&Deadline::after(Duration::from_millis(30))), None);
        assert!(t.elapsed() >= Duration::from_millis(30));
        lock.unlock();
        assert_eq!(lock.holder(), 0);
        assert_eq!(lock.lock(&Deadline::never()), Some(Acquired::Clean));
        lock.unlock();
    }

    #[test]
    fn a_sleeping_waiter_is_woken_by_the_release() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let lock = std::sync::Arc::new(RobustLock::default());
        let _ = lock.try_lock().unwrap();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.lock(&Deadline::never()))
        };
        crate::spin::until(Duration::from_millis(5), || false);
        lock.unlock();
        assert_eq!(waiter.join().unwrap(), Some(Acquired::Clean));
    }

    #[test]
    fn a_dead_holder_is_taken_over() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        // A pid that exists no more: a child that has been reaped.
        let child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        let mut child = child;
        child.wait().unwrap();
        let lock = RobustLock::default();
        lock.word.store(dead, Ordering::Relaxed);
        assert_eq!(lock.try_lock(), Some(Acquired::OwnerDied));
        assert_eq!(lock.holder(), std::process::id());
        lock.unlock();
        // Same, for a waiter that waits.
        lock.word.store(dead | CONTENDED, Ordering::Relaxed);
        assert_eq!(
            lock.lock(&Deadline::after(Duration::from_secs(5))),
            Some(Acquired::OwnerDied)
        );
        lock.unlock();
    }
}
