//! Waiting for a condition on the shared header: a short spin (a hand-off
//! between two busy processes then costs nanoseconds, not a wake-up), then a
//! futex sleep that wakers only pay for when someone sleeps.

use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::header::Wakeup;

/// How long a waiter spins before it sleeps: long enough to catch a peer
/// that is busy producing or consuming, far shorter than the 50-60 µs a
/// cross-core wake-up costs on an idle vCPU.
const SPIN_FOR: Duration = Duration::from_micros(20);

/// The longest pause between looks while spinning: 2^6 `pause`s, about a
/// microsecond.
const MAX_BACKOFF: u32 = 6;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub(crate) const NEVER: Deadline = Deadline(None);

    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// Time left (`None`: forever); zero once passed.
    pub(crate) fn remaining(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    pub(crate) fn passed(self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }
}

/// Waits until `ready()` holds (true) or the deadline passes (false).
///
/// Sleeps are cut into slices of at most `slice`, so that `ready` can also
/// notice things no one wakes for (a dead peer).
pub(crate) fn wait_for(
    wakeup: &Wakeup,
    deadline: Deadline,
    slice: Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    if ready() {
        return true;
    }
    if deadline.passed() {
        return false;
    }
    let spin_start = Instant::now();
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
        if spin_start.elapsed() >= SPIN_FOR {
            break;
        }
    }
    loop {
        // Announce the sleep, then look once more: a waker that published
        // after that look sees the announcement (both sides fence), so the
        // wake-up cannot be lost.
        wakeup.sleeping.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if ready() {
            return true;
        }
        let left = deadline.remaining().map_or(slice, |left| left.min(slice));
        if left.is_zero() {
            return false;
        }
        let timeout = rustix::thread::futex::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        // Woken, timed out, interrupted, or already woken (the word is 0):
        // all mean "look again".
        let _ = futex::wait(&wakeup.sleeping, futex::Flags::empty(), 1, Some(&timeout));
        if ready() {
            return true;
        }
    }
}

/// Wakes everyone sleeping on `wakeup`, after the caller published a change
/// (no system call unless someone announced a sleep since the last wake).
#[inline]
pub(crate) fn wake_all(wakeup: &Wakeup) {
    fence(Ordering::SeqCst);
    if wakeup.sleeping.load(Ordering::Relaxed) != 0 {
        wake_everyone(wakeup);
    }
}
/// Wakes everyone sleeping on `wakeup`, unconditionally.
pub(crate) fn wake_everyone(wakeup: &Wakeup) {
    wakeup.sleeping.store(0, Ordering::SeqCst);
    let _ = futex::wake(&wakeup.sleeping, futex::Flags::empty(), u32::MAX);
}
