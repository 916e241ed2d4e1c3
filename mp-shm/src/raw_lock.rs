//! The robust futex mutex under every lock of the crate.
//!
//! The futex word names the hold: the holder's id (a pid for process-owned
//! locks, a tid for thread-owned ones), 8 bits that tell this holder's
//! acquisitions from an earlier holder's with the same id, and two flags.
//! Beside it the holder records who it is: its start time and pid
//! namespace (the *record*, valid when its id and generation match the
//! word's).
//!
//! **Releasing.** A guard releases only its own hold (the word it took,
//! compare-and-swapped to 0). A hold that hands out references or guards
//! data ([`PINNED`]: every live `LockGuard`) is released by nobody else;
//! an unpinned hold (a forgotten guard, CPython's `acquire()` without
//! `release()`) may be released by any process ([`RawLockState::release_unpinned`]).
//!
//! **Dead holders.** A waiter about to sleep registers with the
//! [`death_watch`](crate::death_watch), which wakes it within a
//! millisecond of the holder's death (a pidfd); it then takes the lock over
//! with a CAS and reports [`Acquired::OwnerDied`]. A holder is judged dead
//! only in this process's own pid namespace: one from another namespace,
//! or whose namespace nobody can know, is never taken over (its waiters
//! wait, or time out). No glibc robust list is involved.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::fence;
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::death_watch::{self, Holder, POLL_INTERVAL, START_BITS, Watch};
use crate::identity::{self, Me};
use crate::sys::layout::RawLockState;

/// Holder id bits of the futex word (pids and tids are below 2^22 on Linux).
pub(crate) const ID_MASK: u32 = (1 << 22) - 1;
const GEN_SHIFT: u32 = 22;
const GEN_MASK: u32 = 0xff << GEN_SHIFT;
/// The holder has a live guard: nobody else may release it.
pub(crate) const PINNED: u32 = 1 << 30;
/// Waiters may be asleep: the releaser must wake one.
pub(crate) const CONTENDED: u32 = 1 << 31;

/// `holders_ns` once holders from two pid namespaces (or an unknown one)
/// have held the lock.
const MIXED_NS: u32 = u32::MAX;

/// Polls (with exponential backoff, at most `1 << SPIN_SHIFT` pauses each)
/// before a futex sleep: a cross-core futex wake-up costs ~50 µs on an idle
/// core, a spinning hand-off well under 1 µs (see the `shm` bench).
const SPINS: u32 = 40;
const SPIN_SHIFT: u32 = 6;

/// Who owns a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The process (`Lock`: the lock is abandoned only when the whole
    /// process is gone).
    Process,
    /// The thread (`RLock`).
    Thread,
}

impl Owner {
    #[inline]
    pub(crate) fn me(self) -> Me {
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

/// A successful acquisition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    Clean,
    /// The previous holder died (now, or earlier and nobody marked the
    /// data consistent since).
    OwnerDied,
}

/// A hold: the word it put in the lock (without [`CONTENDED`]), which
/// identifies it, and how it was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hold {
    pub(crate) word: u32,
    pub(crate) acquired: Acquired,
}

/// The lock stayed held for the whole wait.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Why a release on someone's behalf failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReleaseError {
    NotLocked,
    /// A live guard holds it.
    Pinned,
    /// Another process holds it.
    OtherHolder,
}

/// The record of a hold: start time, generation and id.
fn record(word: u32, start: u64) -> u64 {
    ((start & ((1 << START_BITS) - 1)) << 30) | u64::from(word & (GEN_MASK | ID_MASK))
}

/// What a waiter read about the hold it waits for, in this order.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    takeovers: u32,
    word: u32,
    record: u64,
    owner_ns: u32,
    holders_ns: u32,
}

impl RawLockState {
    /// Acquires for `owner`; `pinned` for a hold with a guard.
    #[inline]
    pub(crate) fn lock(&self, owner: Owner, pinned: bool, wait: Wait) -> Result<Hold, TimedOut> {
        self.lock_as(owner.me(), owner, pinned, wait)
    }

    /// [`lock`](Self::lock) for the caller's already known identity.
    #[inline]
    pub(crate) fn lock_as(
        &self,
        me: Me,
        owner: Owner,
        pinned: bool,
        wait: Wait,
    ) -> Result<Hold, TimedOut> {
        if self.holders_ns.load(Relaxed) != me.ns {
            self.note_namespace(me.ns);
        }
        let mine = me.id | (me.generation << GEN_SHIFT) | if pinned { PINNED } else { 0 };
        if self
            .word
            .compare_exchange(0, mine, Acquire, Relaxed)
            .is_ok()
        {
            return Ok(self.acquired(me, mine, Acquired::Clean));
        }
        self.lock_slow(me, owner, mine, wait)
    }

    /// Records the new hold `word` (the record after the namespace: a
    /// waiter that reads a matching record sees the namespace with it).
    #[inline]
    fn acquired(&self, me: Me, word: u32, how: Acquired) -> Hold {
        self.owner_ns.store(me.ns, Relaxed);
        self.owner.store(record(word, me.start), Release);
        let acquired = if self.inconsistent.load(Relaxed) != 0 {
            Acquired::OwnerDied
        } else {
            how
        };
        Hold { word, acquired }
    }

    /// A holder from another namespace than every earlier one makes the
    /// lock "mixed" before it can hold it: from then on nobody judges a
    /// holder whose record it cannot read (see `holder_of`).
    #[cold]
    fn note_namespace(&self, ns: u32) {
        let mut seen = self.holders_ns.load(Relaxed);
        while seen != ns && seen != MIXED_NS {
            let new = if seen == 0 && ns != 0 { ns } else { MIXED_NS };
            match self
                .holders_ns
                .compare_exchange(seen, new, Relaxed, Relaxed)
            {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        // Whoever reads our word with Acquire sees the namespace mark.
        fence(Release);
    }

    #[cold]
    fn lock_slow(&self, me: Me, owner: Owner, mine: u32, wait: Wait) -> Result<Hold, TimedOut> {
        // Spins count up to SPINS; none on one CPU, where the holder cannot
        // release while we spin.
        let first_spin = SPINS - mp_internal::spin::rounds(SPINS);
        let mut spins = first_spin;
        let mut slept = false;
        // The death watch of the holder we wait for, if it can be watched.
        let mut watch: Option<Watch> = None;
        // Else, when to look in /proc next.
        let mut next_look: Option<Instant> = None;
        loop {
            let w = self.word.load(Relaxed);
            if w == 0 {
                // After a sleep, others may be asleep too: keep the flag.
                let new = mine | if slept { CONTENDED } else { 0 };
                if self.word.compare_exchange(0, new, Acquire, Relaxed).is_ok() {
                    return Ok(self.acquired(me, mine, Acquired::Clean));
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
            let snap = self.snapshot();
            if snap.word == 0 {
                continue;
            }
            let left = wait.left();
            let last_look = left == Some(Duration::ZERO);
            let holder = self.holder_of(&snap, owner);
            let dead = match holder {
                // Another namespace, or nobody can tell: never taken over.
                None => {
                    watch = None;
                    false
                }
                // No sleep follows: one look (cheap for a known holder).
                Some(h) if last_look => death_watch::is_dead(h),
                Some(h) => {
                    if watch.as_ref().map(Watch::holder) != Some(h) {
                        watch = None;
                        match Watch::new(h, &self.word) {
                            Ok(w) => watch = Some(w),
                            Err(true) => {}
                            Err(false) => next_look = Some(Instant::now() + POLL_INTERVAL),
                        }
                    }
                    match &watch {
                        Some(w) => w.is_dead(),
                        None => match next_look {
                            Some(at) if Instant::now() < at => false,
                            _ => {
                                next_look = Some(Instant::now() + POLL_INTERVAL);
                                death_watch::is_dead(h)
                            }
                        },
                    }
                }
            };
            if dead && let Some(hold) = self.take_over(&snap, me, mine) {
                return Ok(hold);
            }
            if last_look {
                return Err(TimedOut);
            }
            if dead {
                // Someone else took it over (or the word changed): look again.
                continue;
            }
            let w = snap.word;
            if w & CONTENDED == 0
                && self
                    .word
                    .compare_exchange(w, w | CONTENDED, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            // A watched holder's death wakes us; otherwise look in /proc
            // every POLL_INTERVAL.
            let nap = match (&watch, holder, next_look) {
                (None, Some(_), Some(at)) => {
                    let until = at
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1));
                    Some(left.map_or(until, |l| l.min(until)))
                }
                _ => left,
            };
            futex_wait(&self.word, w | CONTENDED, nap);
            slept = true;
            spins = first_spin;
        }
    }

    fn snapshot(&self) -> Snapshot {
        // The takeover count first: a takeover that starts after it is seen
        // by `take_over` (see there).
        let takeovers = self.takeovers.load(Acquire);
        let word = self.word.load(Acquire);
        let record = self.owner.load(Acquire);
        Snapshot {
            takeovers,
            word,
            record,
            owner_ns: self.owner_ns.load(Relaxed),
            holders_ns: self.holders_ns.load(Relaxed),
        }
    }

    /// The holder to judge, if this process can judge it: in its own pid
    /// namespace, with a start time when the record is complete.
    fn holder_of(&self, snap: &Snapshot, owner: Owner) -> Option<Holder> {
        let process = identity::process();
        let ns = process.ns;
        if ns == 0 {
            return None;
        }
        let id = snap.word & ID_MASK;
        let thread = owner == Owner::Thread;
        if !thread && id == process.id {
            // This process (a pid in our namespace is us while we run):
            // alive, and nothing to watch.
            return None;
        }
        let recorded = snap.record & u64::from(GEN_MASK | ID_MASK);
        if recorded == u64::from(snap.word & (GEN_MASK | ID_MASK)) {
            // The record is this hold's.
            (snap.owner_ns == ns).then_some(Holder {
                id,
                start: Some(snap.record >> 30),
                thread,
            })
        } else if snap.holders_ns == ns {
            // Not written yet (or the holder died before writing it), but
            // every holder ever was in our namespace: the id is enough to
            // see whether it still exists (not whether it was reused).
            Some(Holder {
                id,
                start: None,
                thread,
            })
        } else {
            None
        }
    }

    /// Takes over the hold `snap` saw, whose holder died.
    #[cold]
    fn take_over(&self, snap: &Snapshot, me: Me, mine: u32) -> Option<Hold> {
        let generation = (((snap.word & GEN_MASK) >> GEN_SHIFT) + 1) & 0xff;
        // A generation the dead hold did not have, so its record never
        // matches ours; keep CONTENDED: other waiters may be asleep.
        let new = (mine & !GEN_MASK) | (generation << GEN_SHIFT);
        self.word
            .compare_exchange(snap.word, new | CONTENDED, AcqRel, Relaxed)
            .ok()?;
        // Another takeover since the snapshot means the word went through
        // other holds and came back to the same bits (a reused id): it may
        // be a live hold. Give it back untouched.
        if self.takeovers.fetch_add(1, AcqRel) != snap.takeovers {
            let _ =
                self.word
                    .compare_exchange(new | CONTENDED, snap.word | CONTENDED, AcqRel, Relaxed);
            return None;
        }
        self.inconsistent.store(1, Relaxed);
        self.count.store(0, Relaxed);
        self.forgotten.store(0, Relaxed);
        Some(self.acquired(me, new, Acquired::OwnerDied))
    }

    /// Releases the hold `word` (a guard's); false if the lock is not held
    /// by it any more.
    #[inline]
    pub(crate) fn unlock(&self, word: u32) -> bool {
        self.owner.store(0, Relaxed);
        if self
            .word
            .compare_exchange(word, 0, Release, Relaxed)
            .is_ok()
        {
            return true;
        }
        self.unlock_slow(word)
    }

    #[cold]
    fn unlock_slow(&self, word: u32) -> bool {
        let mut w = self.word.load(Relaxed);
        while w & !CONTENDED == word {
            match self.word.compare_exchange(w, 0, Release, Relaxed) {
                Ok(_) => {
                    if w & CONTENDED != 0 {
                        futex_wake(&self.word, 1);
                    }
                    return true;
                }
                Err(now) => w = now,
            }
        }
        false
    }

    /// Whether the hold `word` still holds the lock.
    pub(crate) fn holds(&self, word: u32) -> bool {
        self.word.load(Acquire) & !CONTENDED == word
    }

    /// Turns the hold `word` into one without a guard (that anyone may
    /// release); its new word.
    pub(crate) fn unpin(&self, word: u32) -> u32 {
        let mut w = self.word.load(Relaxed);
        while w & !CONTENDED == word {
            match self.word.compare_exchange(w, w & !PINNED, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        word & !PINNED
    }

    /// Releases a hold that has no guard (CPython's `Lock.release` from any
    /// process), of process `pid` only if given.
    pub(crate) fn release_unpinned(&self, pid: Option<u32>) -> Result<(), ReleaseError> {
        loop {
            let w = self.word.load(Relaxed);
            if w & ID_MASK == 0 {
                return Err(ReleaseError::NotLocked);
            }
            if w & PINNED != 0 {
                return Err(ReleaseError::Pinned);
            }
            if pid.is_some_and(|p| p != w & ID_MASK) {
                return Err(ReleaseError::OtherHolder);
            }
            // Clear this hold's record (not a later one's), then release.
            let current = self.owner.load(Relaxed);
            if current & u64::from(GEN_MASK | ID_MASK) == u64::from(w & (GEN_MASK | ID_MASK)) {
                let _ = self.owner.compare_exchange(current, 0, Relaxed, Relaxed);
            }
            if self.word.compare_exchange(w, 0, Release, Relaxed).is_ok() {
                if w & CONTENDED != 0 {
                    futex_wake(&self.word, 1);
                }
                return Ok(());
            }
        }
    }

    /// Whether the calling thread or process `me` holds the lock (its id,
    /// and a record of its own start time and namespace).
    pub(crate) fn held_by(&self, me: Me) -> bool {
        let w = self.word.load(Acquire);
        let rec = self.owner.load(Acquire);
        w & ID_MASK == me.id && rec == record(w, me.start) && self.owner_ns.load(Relaxed) == me.ns
    }

    /// Whether anybody holds the lock.
    pub(crate) fn is_locked(&self) -> bool {
        self.word.load(Relaxed) & ID_MASK != 0
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicU64};

    fn state() -> RawLockState {
        RawLockState {
            word: AtomicU32::new(0),
            count: AtomicU32::new(0),
            owner: AtomicU64::new(0),
            owner_ns: AtomicU32::new(0),
            holders_ns: AtomicU32::new(0),
            takeovers: AtomicU32::new(0),
            inconsistent: AtomicU32::new(0),
            forgotten: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
        }
    }

    /// Makes `s` look held by `id` (started at `start`, in namespace `ns`).
    fn held_by(s: &RawLockState, id: u32, start: u64, ns: u32) {
        let word = id | PINNED;
        s.word.store(word, Relaxed);
        s.owner.store(record(word, start), Relaxed);
        s.owner_ns.store(ns, Relaxed);
        s.holders_ns.store(ns, Relaxed);
    }

    #[test]
    fn only_the_hold_itself_releases_a_guarded_hold() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let s = state();
        let hold = s.lock(Owner::Process, true, Wait::Never).unwrap();
        assert_eq!(hold.acquired, Acquired::Clean);
        assert_eq!(s.holder(), identity::process().id);
        assert!(s.held_by(identity::process()));
        assert!(s.lock(Owner::Process, true, Wait::Never).is_err());
        assert_eq!(s.release_unpinned(None), Err(ReleaseError::Pinned));
        let me = identity::process().id;
        assert_eq!(s.release_unpinned(Some(me)), Err(ReleaseError::Pinned));
        assert!(
            !s.unlock(hold.word ^ (1 << GEN_SHIFT)),
            "another acquisition"
        );
        assert!(s.holds(hold.word));
        let free = s.unpin(hold.word);
        assert_eq!(
            s.release_unpinned(Some(12345)),
            Err(ReleaseError::OtherHolder)
        );
        assert_eq!(s.release_unpinned(Some(me)), Ok(()));
        assert!(!s.unlock(free), "released already");
        assert_eq!(s.release_unpinned(None), Err(ReleaseError::NotLocked));
    }

    #[test]
    fn a_dead_holder_is_taken_over() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let s = state();
        // A holder id that cannot exist (above pid_max) in our namespace.
        held_by(&s, 0x3f_fff0, 1, identity::process().ns);
        let hold = s.lock(Owner::Process, true, Wait::Never).unwrap();
        assert_eq!(hold.acquired, Acquired::OwnerDied);
        assert!(!s.is_consistent());
        assert!(s.unlock(hold.word));
        let hold = s.lock(Owner::Process, false, Wait::Never).unwrap();
        assert_eq!(
            hold.acquired,
            Acquired::OwnerDied,
            "until marked consistent"
        );
        s.mark_consistent();
        assert!(s.unlock(hold.word));
        let hold = s.lock(Owner::Process, false, Wait::Never).unwrap();
        assert_eq!(hold.acquired, Acquired::Clean);
        // Without a record (a holder killed before it wrote one), but with
        // every holder so far in our namespace: the id alone is judged.
        assert!(s.unlock(hold.word));
        s.word.store(0x3f_fff0, Relaxed);
        s.owner.store(0, Relaxed);
        assert_eq!(
            s.lock(Owner::Process, false, Wait::Never).unwrap().acquired,
            Acquired::OwnerDied
        );
    }

    /// Issue 13 item 5: pid 1 here is init; a holder that recorded pid 1 in
    /// another pid namespace (the first process of a container) is another
    /// process, whose life `/proc` cannot show. It must not be taken over,
    /// although init's start time is not the one it recorded.
    #[test]
    fn a_holder_in_another_pid_namespace_is_never_taken_over() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let ns = identity::process().ns;
        let s = state();
        held_by(&s, 1, 12345, ns ^ 1);
        assert!(s.lock(Owner::Process, false, Wait::Never).is_err());
        let t = Instant::now();
        assert!(
            s.lock(
                Owner::Process,
                false,
                Wait::timeout(Duration::from_millis(100))
            )
            .is_err()
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        // Nor a holder without a record once holders came from two
        // namespaces, even one whose id does not exist here.
        let s = state();
        held_by(&s, 0x3f_fff0, 1, ns);
        s.owner.store(0, Relaxed);
        s.holders_ns.store(MIXED_NS, Relaxed);
        assert!(s.lock(Owner::Process, false, Wait::Never).is_err());
    }

    #[test]
    fn a_timed_wait_on_a_live_holder_times_out() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
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
