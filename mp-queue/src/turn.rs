//! Taking turns on one side of a queue (the producers' or the consumers'):
//! a process-shared robust lock, biased towards a thread that takes every
//! turn by itself.
//!
//! Locking and unlocking cost two atomic read-modify-writes per `put` and
//! per `get`, and each one waits for the ring bytes just written to reach
//! the other process's core: with one producer and one consumer that was
//! most of the cost of a small message. So once one thread has taken
//! `earn_at` turns in a row, it keeps the lock at the end of its turn and
//! records itself as the side's *owner*. Its later turns only store its
//! `busy` flag and check that it still owns the side: plain loads and
//! stores.
//!
//! Any other thread (of this process or another) that wants a turn takes
//! the bias away: it marks the owner word with [`REVOKE`], runs the
//! asymmetric barrier (`membarrier`, see `wait::barrier`) so that either it
//! sees the owner's `busy` flag or the owner sees the mark, waits until the
//! owner is not busy, clears the owner word and releases the lock on the
//! owner's behalf. Then everyone competes for the lock as usual, and the
//! streak needed to earn the bias doubles, so threads that alternate stay
//! on the lock.
//!
//! A former owner can still be inside `take`'s fast path, between seeing
//! itself as the owner and storing `busy`, for as long as it is preempted
//! there; it then stores `busy` (1, and 0 when it sees the bias gone) on a
//! side that may have a new owner in the middle of a turn, whose `busy` it
//! clears: a revoker then sees that owner idle, releases its lock and two
//! threads write the same ring bytes. So a thread that ends another
//! thread's bias records that owner as `stale`, and no thread earns the
//! bias while a stale owner may still be in that window: until it shows up
//! in `take_slow` (past its fast path), or its thread is gone or asleep in
//! the kernel (the window has no system call).
//!
//! Crashes: the owner's process holds the lock while it owns the side, so
//! the lock's own dead-holder detection covers a dead owner. A revoker
//! waiting for a busy owner that died takes the lock over and learns from
//! `busy` whether the owner died in the middle of a turn.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, compiler_fence};
use std::time::{Duration, Instant};

use mp_internal::{Deadline, futex};
use mp_shm::{AcquireError, Lock, LockGuard};

use crate::header::Bias;
use crate::wait::{LIVENESS_SLICE, SPIN_FOR, barrier, spin};

/// Set in the owner word while the bias is being taken away.
pub(crate) const REVOKE: u64 = 1 << 63;

/// The streak that first earns the bias, and the most it grows to.
const EARN_AT: u32 = 64;
const EARN_AT_MAX: u32 = 1 << 16;

/// A wait for the lock goes in slices this long: a lock holder may meanwhile
/// have become the owner, whom only a revocation moves.
const SLICE: Duration = Duration::from_millis(2);

/// One side's lock, with this process's memory of the bias it took.
#[derive(Debug)]
pub(crate) struct Turns {
    lock: Lock,
    /// The key with which a thread of this process last took the bias
    /// through this handle: a process that did not take it (a new process
    /// that reuses a dead owner's ids) never skips the lock.
    here: AtomicU64,
}

/// A turn: ends when dropped.
///
/// Only word-sized fields: the turn is built on the hot path, and a struct
/// with narrower fields gets copied with wide loads over narrow stores,
/// which stalls until the store buffer, holding the last message's ring
/// bytes, has drained.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    bias: &'a Bias,
    /// [`OWNED`], [`UNLOCK`], or the key of a thread that earned the bias
    /// (keeps the lock and becomes the owner).
    end: u64,
}

/// Taken as the owner, without the lock.
const OWNED: u64 = 0;
/// Taken with the lock.
const UNLOCK: u64 = 1;

impl Turns {
    pub(crate) fn new(lock: Lock) -> Turns {
        Turns {
            lock,
            here: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Takes a turn on the side `bias` belongs to; `None` when the deadline
    /// passed first. If the previous holder died, `repair` runs first (with
    /// whether it died in the middle of a turn), and then the side counts as
    /// consistent again.
    #[inline(always)]
    pub(crate) fn take<'a>(
        &'a self,
        bias: &'a Bias,
        deadline: &Deadline,
        repair: impl FnOnce(bool),
    ) -> Option<Turn<'a>> {
        let key = key();
        if bias.owner.load(Ordering::Relaxed) == key
            && self.here.load(Ordering::Relaxed) == key
            // Not already inside a turn (a `Serialize` impl that puts into
            // the queue it is being put into: that waits, as on the lock).
            && bias.busy.load(Ordering::Relaxed) == 0
        {
            bias.busy.store(1, Ordering::Relaxed);
            // Pairs with the revoker's `membarrier` (see the module docs).
            compiler_fence(Ordering::SeqCst);
            if bias.owner.load(Ordering::Acquire) == key {
                return Some(Turn {
                    turns: self,
                    bias,
                    end: OWNED,
                });
            }
            leave(bias);
            // Being revoked: finish it (the revoker may be waiting for us).
            self.unbias(bias, key | REVOKE);
        }
        self.take_slow(bias, key, deadline, repair)
    }

    #[cold]
    fn take_slow<'a>(
        &'a self,
        bias: &'a Bias,
        key: u64,
        deadline: &Deadline,
        repair: impl FnOnce(bool),
    ) -> Option<Turn<'a>> {
        // Past the fast path: if another thread ended this thread's bias,
        // this thread's stores to `busy` are behind it now.
        let stale = bias.stale.load(Ordering::Acquire);
        if stale == key {
            let _ = bias
                .stale
                .compare_exchange(stale, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
        let repaired = |guard: LockGuard<'a>| {
            repair(died(bias));
            guard.mark_consistent();
            self.locked(bias, key, guard)
        };
        loop {
            let owner = bias.owner.load(Ordering::Acquire);
            if owner != 0 {
                match self.revoke(bias, owner, deadline) {
                    Revoked::Done => continue,
                    Revoked::TimedOut => return None,
                    Revoked::OwnerDied(guard) => return Some(repaired(guard)),
                }
            }
            // The lock alone decides, in slices: a holder may meanwhile
            // have become the owner, which only a revocation undoes. A lock
            // that looks free is tried without reading the clock; a held one
            // is not (mp-shm's `try_acquire` of a held lock checks whether
            // its holder died).
            let taken = if self.lock.is_locked() {
                Err(AcquireError::Timeout)
            } else {
                self.lock.try_acquire()
            };
            let result = match taken {
                Err(AcquireError::Timeout) => {
                    let slice = deadline.remaining().map_or(SLICE, |left| left.min(SLICE));
                    if slice.is_zero() {
                        // Out of time: one look, which notices a dead holder.
                        self.lock.try_acquire()
                    } else {
                        self.lock.acquire_timeout(slice)
                    }
                }
                taken => taken,
            };
            match result {
                Ok(guard) => return Some(self.locked(bias, key, guard)),
                Err(AcquireError::OwnerDied(guard)) => return Some(repaired(guard.into_inner())),
                Err(AcquireError::Timeout) if deadline.passed() => return None,
                Err(AcquireError::Timeout) => {}
            }
        }
    }

    /// A turn taken with the lock: counts the streak that earns the bias.
    fn locked<'a>(&'a self, bias: &'a Bias, key: u64, guard: LockGuard<'a>) -> Turn<'a> {
        let streak = if bias.streak_key.load(Ordering::Relaxed) == key {
            bias.streak.load(Ordering::Relaxed).saturating_add(1)
        } else {
            bias.streak_key.store(key, Ordering::Relaxed);
            1
        };
        bias.streak.store(streak, Ordering::Relaxed);
        let earn_at = match bias.earn_at.load(Ordering::Relaxed) {
            0 => EARN_AT,
            n => n,
        };
        // Only a process whose threads a revoker's `membarrier` reaches may
        // skip the lock, and only once no former owner may still store
        // `busy`.
        let earned = streak >= earn_at && barrier::registered() && no_stale_owner(bias);
        // Released by `release_if_held_by` when the turn ends (or kept).
        guard.forget();
        // Also marks a lock turn, so that a holder's death tells whether it
        // died in the middle of one.
        bias.busy.store(1, Ordering::Relaxed);
        Turn {
            turns: self,
            bias,
            end: if earned { key } else { UNLOCK },
        }
    }

    /// Takes the bias away from `owner` (the owner word as last seen).
    fn revoke<'a>(&'a self, bias: &'a Bias, owner: u64, deadline: &Deadline) -> Revoked<'a> {
        let marked = owner | REVOKE;
        if owner & REVOKE == 0
            && bias
                .owner
                .compare_exchange(owner, marked, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            // Changed meanwhile: look again.
            return Revoked::Done;
        }
        // Either the owner's `busy` is visible after this, or the owner sees
        // the mark on its next turn. Without the barrier only the owner
        // (its next turn) or its death can end the bias.
        let barrier = barrier::heavy();
        let idle = || bias.busy.load(Ordering::Acquire) == 0;
        let mut next_check = Instant::now() + LIVENESS_SLICE;
        loop {
            // Not busy, and (thanks to the barrier) not about to be.
            let spin_for = deadline
                .remaining()
                .map_or(SPIN_FOR, |left| left.min(SPIN_FOR));
            if barrier && (idle() || spin(spin_for, idle)) {
                self.unbias(bias, marked);
                return Revoked::Done;
            }
            if bias.owner.load(Ordering::Acquire) != marked {
                // The owner finished the revocation itself, or it died and
                // someone took the lock over.
                return Revoked::Done;
            }
            let now = Instant::now();
            let out_of_time = deadline.passed();
            // Still not handed over after a while, or out of time (a dead
            // owner must not win against a timeout shorter than the
            // interval, or short waits would never notice it, as in
            // mp-shm's lock): has its process died?
            if out_of_time || now >= next_check {
                next_check = now + LIVENESS_SLICE;
                match self.lock.try_acquire() {
                    Err(AcquireError::OwnerDied(guard)) => {
                        return Revoked::OwnerDied(guard.into_inner());
                    }
                    // Released meanwhile (the owner finished the revocation).
                    Ok(guard) => {
                        drop(guard);
                        return Revoked::Done;
                    }
                    Err(AcquireError::Timeout) if out_of_time => return Revoked::TimedOut,
                    Err(AcquireError::Timeout) => {}
                }
            }
            let until_check = next_check - now;
            let left = deadline
                .remaining()
                .map_or(until_check, |left| left.min(until_check));
            if left.is_zero() {
                // The deadline passed just now: look once more above.
                continue;
            }
            if barrier {
                // The owner wakes us when it leaves a turn and sees the mark.
                futex::wait(&bias.busy, 1, Some(left));
            } else {
                std::thread::sleep(left.min(SLICE));
            }
        }
    }

    /// Ends a revoked bias (`marked`: the owner word with the REVOKE mark),
    /// whoever sees it idle first, the owner or the revoker: records the
    /// owner as stale if it is another thread (see the module docs),
    /// releases the lock on the owner's behalf (never a process that took
    /// it over from the owner meanwhile: it died), and doubles the streak
    /// the next owner needs. Nothing if the word changed meanwhile.
    fn unbias(&self, bias: &Bias, marked: u64) {
        if bias
            .owner
            .compare_exchange(marked, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            let owner = marked & !REVOKE;
            if owner != key() {
                // Before the release: whoever takes the lock next sees it.
                bias.stale.store(owner, Ordering::Release);
            }
            self.lock.release_if_held_by(pid_of(marked));
            let earn_at = bias.earn_at.load(Ordering::Relaxed).max(EARN_AT);
            bias.earn_at.store(
                earn_at.saturating_mul(2).min(EARN_AT_MAX),
                Ordering::Relaxed,
            );
        }
    }

    /// Gives the bias back if this thread owns the side through this handle
    /// (a process that is done with the queue spares the next user the
    /// revocation; no doubling, as nobody had to wait).
    pub(crate) fn give_back(&self, bias: &Bias) {
        let key = key();
        if self.here.load(Ordering::Relaxed) == key
            && bias
                .owner
                .compare_exchange(key, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.lock.release_if_held_by(pid_of(key));
        }
    }
}

enum Revoked<'a> {
    /// Look again.
    Done,
    TimedOut,
    /// The owner's process is gone; the lock is now ours.
    OwnerDied(LockGuard<'a>),
}

/// Whether a thread may earn the bias (under the lock): no former owner
/// may still be inside `take`'s fast path, about to store `busy` (see the
/// module docs). A stale owner whose thread is gone, or asleep in a system
/// call, is past that window (or not yet at it, and will find the owner
/// word changed); one that runs (or may) is waited for, and the streak
/// starts over, so that the look in /proc comes once per `earn_at` turns.
#[cold]
fn no_stale_owner(bias: &Bias) -> bool {
    let stale = bias.stale.load(Ordering::Acquire);
    if stale == 0 {
        return true;
    }
    if !asleep_or_gone(pid_of(stale), tid_of(stale)) {
        bias.streak.store(0, Ordering::Relaxed);
        return false;
    }
    // It may have shown up meanwhile: then the slot is clear anyway.
    let _ = bias
        .stale
        .compare_exchange(stale, 0, Ordering::AcqRel, Ordering::Relaxed);
    true
}

/// Whether thread `tid` of process `pid` no longer exists, or sleeps in a
/// system call (state `S`; not `D`, which a page fault in user code also
/// shows). When in doubt, false.
fn asleep_or_gone(pid: u32, tid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) {
        // The name (field 2) may hold spaces and parentheses: the state
        // follows the last ')'.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_some_and(|state| matches!(state, "S" | "Z" | "X")),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// The lock was taken over from a dead holder: clears the bias it may have
/// held and tells whether it died in the middle of a turn.
fn died(bias: &Bias) -> bool {
    // The owner word first: a revoker that then sees `busy` clear must not
    // also release the lock (now ours).
    bias.owner.swap(0, Ordering::AcqRel);
    bias.busy.swap(0, Ordering::AcqRel) != 0
}

/// The owner leaves a turn: clears `busy` and wakes a revoker waiting for it.
#[inline]
fn leave(bias: &Bias) {
    bias.busy.store(0, Ordering::Release);
    // Pairs with the revoker's `membarrier`: it sees `busy` clear, or we see
    // its mark.
    compiler_fence(Ordering::SeqCst);
    if bias.owner.load(Ordering::Relaxed) & REVOKE != 0 {
        futex::wake_all(&bias.busy);
    }
}

impl Drop for Turn<'_> {
    #[inline]
    fn drop(&mut self) {
        match self.end {
            OWNED => leave(self.bias),
            UNLOCK => {
                self.bias.busy.store(0, Ordering::Relaxed);
                self.turns.lock.release_if_held_by(pid_of(key()));
            }
            key => {
                // Keep the lock; from now on this thread owns the side. Not
                // busy first: dying between the two is not dying mid-turn.
                self.bias.busy.store(0, Ordering::Relaxed);
                self.turns.here.store(key, Ordering::Relaxed);
                self.bias.streak.store(0, Ordering::Relaxed);
                self.bias.owner.store(key, Ordering::Release);
            }
        }
    }
}

/// The process part of a key (the id the lock records for its holder).
#[inline]
fn pid_of(key: u64) -> u32 {
    ((key & !REVOKE) >> 32) as u32
}

/// The thread part of a key.
#[inline]
fn tid_of(key: u64) -> u32 {
    key as u32
}

/// This thread's key: `pid << 32 | tid`, unique among live threads.
#[inline]
pub(crate) fn key() -> u64 {
    let forks = FORKS.load(Ordering::Relaxed);
    KEY.with(|cell| {
        let (made_at, key) = cell.get();
        if key != 0 && made_at == forks {
            key
        } else {
            new_key(cell, forks)
        }
    })
}

#[cold]
fn new_key(cell: &Cell<(u32, u64)>, forks: u32) -> u64 {
    static HOOK: AtomicBool = AtomicBool::new(false);
    mp_internal::on_fork_child(&HOOK, count_fork);
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u64;
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u64;
    let key = pid << 32 | tid;
    cell.set((forks, key));
    key
}

/// Bumped in a forked child: the forking thread's key (copied into the
/// child) is stale there.
static FORKS: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_fork() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    /// `(FORKS when made, key)`.
    static KEY: Cell<(u32, u64)> = const { Cell::new((0, 0)) };
}
