//! Waiting for a condition on the shared header: a short spin (a hand-off
//! between two busy processes then costs nanoseconds, not a wake-up), then a
//! futex sleep that wakers only pay for when someone sleeps.

use std::sync::atomic::Ordering;
use std::time::Duration;

pub(crate) use mp_internal::barrier;
/// Polls a condition for a while without sleeping (see
/// [`mp_internal::spin::until`]).
pub(crate) use mp_internal::spin::until as spin;
use mp_internal::{Deadline, futex};

use crate::header::Wakeup;

/// How long a waiter spins before it sleeps: long enough to catch a peer
/// that is busy producing or consuming, far shorter than the 50-60 µs a
/// cross-core wake-up costs on an idle vCPU.
pub(crate) const SPIN_FOR: Duration = Duration::from_micros(20);

/// How often a waiter looks whether the process it waits on is still alive.
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

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

/// Wakes everyone sleeping on `wakeup`, after the caller published a change
/// (no system call unless someone announced a sleep since the last wake).
/// True if someone had: then the caller may also have async waiters to wake
/// (see `doorbell`).
#[inline]
pub(crate) fn wake_all(wakeup: &Wakeup) -> bool {
    barrier::light();
    if wakeup.sleeping.load(Ordering::Relaxed) != 0 {
        wake_everyone(wakeup);
        return true;
    }
    false
}
/// Wakes everyone sleeping on `wakeup`, unconditionally.
pub(crate) fn wake_everyone(wakeup: &Wakeup) {
    wakeup.sleeping.store(0, Ordering::SeqCst);
    futex::wake_all(&wakeup.sleeping);
}
