//! Waiting for a condition on the shared header: a short spin (a hand-off
//! between two busy processes then costs nanoseconds, not a wake-up), then a
//! futex sleep that wakers only pay for when someone sleeps.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering, compiler_fence, fence};
use std::time::{Duration, Instant};

use rustix::thread::{MembarrierCommand, futex, membarrier};

use crate::header::Wakeup;

/// How long a waiter spins before it sleeps: long enough to catch a peer
/// that is busy producing or consuming, far shorter than the 50-60 µs a
/// cross-core wake-up costs on an idle vCPU.
pub(crate) const SPIN_FOR: Duration = Duration::from_micros(20);

/// How often a waiter looks whether the process it waits on is still alive.
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// The longest pause between looks while spinning: 2^6 `pause`s, about a
/// microsecond.
const MAX_BACKOFF: u32 = 6;

/// When a blocking call gives up.
///
/// The clock is read lazily, the first time a wait needs the time left: a
/// call that finds what it waits for at once (an item to get, room to put,
/// a free turn) never calls `Instant::now`, and a zero timeout never does
/// (a held lock, which mp-shm then checks for a dead holder, may).
/// So a timeout counts from the moment the call first has to wait. One
/// deadline is shared (by reference) by every wait of a call, so the waits
/// together take at most the timeout.
#[derive(Debug)]
pub(crate) struct Deadline(Cell<When>);

#[derive(Clone, Copy, Debug)]
enum When {
    Never,
    /// Not started: this long after the first look at the clock.
    In(Duration),
    At(Instant),
}

impl Deadline {
    pub(crate) fn never() -> Deadline {
        Deadline(Cell::new(When::Never))
    }

    /// `timeout` from the first wait; too large to represent means never.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(Cell::new(When::In(timeout)))
    }

    /// Time left (`None`: forever); zero once passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let at = match self.0.get() {
            When::Never => return None,
            When::In(timeout) if timeout.is_zero() => return Some(Duration::ZERO),
            When::In(timeout) => {
                let Some(at) = Instant::now().checked_add(timeout) else {
                    self.0.set(When::Never);
                    return None;
                };
                self.0.set(When::At(at));
                // Just started: all of it is left.
                return Some(timeout);
            }
            When::At(at) => at,
        };
        Some(at.saturating_duration_since(Instant::now()))
    }

    pub(crate) fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// Whether the clock was read for this deadline.
    #[cfg(test)]
    pub(crate) fn started(&self) -> bool {
        matches!(self.0.get(), When::At(_))
    }
}

/// Waits until `ready()` holds (true) or the deadline passes (false).
///
/// Sleeps are cut into slices of at most `slice`, so that `ready` can also
/// notice things no one wakes for (a dead peer).
pub(crate) fn wait_for(
    wakeup: &Wakeup,
    deadline: &Deadline,
    slice: Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    if ready() {
        return true;
    }
    if deadline.passed() {
        return false;
    }
    if spin(SPIN_FOR, &mut ready) {
        return true;
    }
    loop {
        // Announce the sleep, then look once more: a waker that published
        // after that look sees the announcement (the barrier pairs with the
        // waker's, see `barrier`), so the wake-up cannot be lost.
        wakeup.sleeping.store(1, Ordering::SeqCst);
        let slice = if barrier::heavy() {
            slice
        } else {
            // Wakers that skipped their fence may go unseen: look often.
            slice.min(barrier::FALLBACK_SLICE)
        };
        if ready() {
            return true;
        }
        let left = deadline.remaining().map_or(slice, |left| left.min(slice));
        if left.is_zero() {
            return false;
        }
        // Woken, timed out, interrupted, or already woken (the word is 0):
        // all mean "look again".
        futex_sleep(&wakeup.sleeping, 1, left);
        if ready() {
            return true;
        }
    }
}

/// Sleeps on the futex `word` while it holds `expected`, for at most
/// `left`. Whether it was woken, timed out or interrupted, the caller looks
/// again.
pub(crate) fn futex_sleep(word: &AtomicU32, expected: u32, left: Duration) {
    let timeout = futex::Timespec {
        tv_sec: left.as_secs() as i64,
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&timeout));
}

/// Polls `ready` for about `limit` (not sleeping, announcing nothing);
/// true as soon as it holds. On one CPU it looks once: the peer could not
/// act while we looked again ([`mp_handle::spin`]).
pub(crate) fn spin(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if !mp_handle::spin::pays_off() {
        return ready();
    }
    let start = Instant::now();
    let mut round = 0u32;
    loop {
        // Exponential backoff between looks: a waiter that polled the very
        // line its peer is about to write would turn every message into a
        // cache-line ping-pong. Looking less often lets a few messages pile
        // up, which then go through in a burst.
        for _ in 0..1u32 << round.min(MAX_BACKOFF) {
            std::hint::spin_loop();
        }
        if ready() {
            return true;
        }
        round += 1;
        if start.elapsed() >= limit {
            return false;
        }
    }
}

/// Wakes everyone sleeping on `wakeup`, after the caller published a change
/// (no system call unless someone announced a sleep since the last wake).
#[inline]
pub(crate) fn wake_all(wakeup: &Wakeup) {
    barrier::light();
    if wakeup.sleeping.load(Ordering::Relaxed) != 0 {
        wake_everyone(wakeup);
    }
}
/// Wakes everyone sleeping on `wakeup`, unconditionally.
pub(crate) fn wake_everyone(wakeup: &Wakeup) {
    wakeup.sleeping.store(0, Ordering::SeqCst);
    let _ = futex::wake(&wakeup.sleeping, futex::Flags::empty(), u32::MAX);
}

/// The store-load barriers of the wake-up protocol, made asymmetric.
///
/// A waker stores its change and then loads `sleeping`; a sleeper stores
/// `sleeping` and then loads the state. Each side needs a full barrier
/// between its store and its load, and on the waker's side (every put and
/// every get) that fence was half the cost of a small `put`: it waits for
/// the ring's cache line to come back from the consumer's core.
///
/// So wakers register their process for `membarrier(2)`'s global expedited
/// command once and then only stop the compiler from reordering; a sleeper,
/// which is about to make a futex system call anyway, issues the
/// `membarrier`, which runs a full barrier on every CPU currently running a
/// registered process (a process not running has passed one in its context
/// switch). A process that cannot register (an old kernel, a seccomp
/// filter) keeps its full fence; a sleeper whose `membarrier` fails sleeps in
/// short slices, so that a registered waker it may have missed is noticed
/// soon after.
pub(crate) mod barrier {
    use super::*;

    /// Sleep slices when the heavy barrier is unavailable.
    pub(super) const FALLBACK_SLICE: Duration = Duration::from_millis(1);

    const UNKNOWN: u8 = 0;
    const REGISTERED: u8 = 1;
    const UNAVAILABLE: u8 = 2;

    /// This process's registration (reset in a forked child, which is a new
    /// process to the kernel and registers again).
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    extern "C" fn forget_after_fork() {
        STATE.store(UNKNOWN, Ordering::Relaxed);
    }

    /// The waker's side, between publishing a change and looking for sleepers.
    #[inline]
    pub(super) fn light() {
        if STATE.load(Ordering::Relaxed) == REGISTERED {
            compiler_fence(Ordering::SeqCst);
        } else {
            light_slow();
        }
    }

    #[cold]
    fn light_slow() {
        static HOOK: AtomicBool = AtomicBool::new(false);
        mp_handle::on_fork_child(&HOOK, forget_after_fork);
        if STATE.load(Ordering::Relaxed) == UNKNOWN {
            let registered = membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
            STATE.store(
                if registered { REGISTERED } else { UNAVAILABLE },
                Ordering::Relaxed,
            );
        }
        // Registered or not, this call fences (a registration that just
        // happened covers only later wakes).
        fence(Ordering::SeqCst);
    }

    /// Whether this process is registered, so that other processes'
    /// `heavy` barriers reach its threads (registers on first use).
    pub(crate) fn registered() -> bool {
        if STATE.load(Ordering::Relaxed) == UNKNOWN {
            light_slow();
        }
        STATE.load(Ordering::Relaxed) == REGISTERED
    }

    /// The sleeper's side, between announcing a sleep and the last look;
    /// false if the `membarrier` failed.
    pub(crate) fn heavy() -> bool {
        fence(Ordering::SeqCst);
        membarrier(MembarrierCommand::GlobalExpedited).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_starts_at_its_first_look_at_the_clock() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let d = Deadline::after(Duration::from_secs(5));
        assert!(!d.started());
        assert_eq!(d.remaining(), Some(Duration::from_secs(5)));
        assert!(d.started());
        assert!(
            d.remaining()
                .is_some_and(|left| left <= Duration::from_secs(5))
        );
        assert!(!d.passed());
        // Zero is passed without a clock; too far to represent is never.
        let zero = Deadline::after(Duration::ZERO);
        assert!(zero.passed() && !zero.started());
        assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
        assert_eq!(Deadline::never().remaining(), None);
    }
}
