//! Waiting for a condition on the shared header: a short spin (a hand-off
//! between two busy processes then costs nanoseconds, not a wake-up), then a
//! futex sleep that wakers only pay for when someone sleeps.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering, compiler_fence, fence};
use std::time::{Duration, Instant};

use mp_internal::{Deadline, futex};
use rustix::thread::{MembarrierCommand, membarrier};

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
        futex::wait(&wakeup.sleeping, 1, Some(left));
        if ready() {
            return true;
        }
    }
}

/// Polls `ready` for about `limit` (not sleeping, announcing nothing);
/// true as soon as it holds. On one CPU it looks once: the peer could not
/// act while we looked again ([`mp_internal::spin`]).
pub(crate) fn spin(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if !mp_internal::spin::is_useful() {
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
    futex::wake_all(&wakeup.sleeping);
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
        mp_internal::on_fork_child(&HOOK, forget_after_fork);
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
