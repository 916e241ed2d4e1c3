//! Whether a waiter should spin before it sleeps.
//!
//! mp's blocking calls (a pipe's `recv`, a queue's `get`) first look for
//! their peer's answer for some microseconds without sleeping, which saves
//! the cross-core wake-up when the peer answers quickly. That only works
//! when the peer can run meanwhile: on one CPU (pinned with `taskset`, or a
//! one-CPU container) a spinning waiter holds up the very peer it waits for,
//! by the whole spin, on every message.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long a thread trusts its last look at how many CPUs it may use.
pub const RECHECK_EVERY: Duration = Duration::from_millis(100);

thread_local! {
    /// When the thread last looked, and whether it could spin then.
    static LAST: Cell<Option<(Instant, bool)>> = const { Cell::new(None) };
}

/// Whether a wait starting at `now` should spin before it sleeps: only when
/// the calling thread may run on more than one CPU.
///
/// The answer is kept for [`RECHECK_EVERY`], so a thread pinned later (or a
/// child pinned by its parent) stops spinning soon after; looking costs one
/// system call.
pub fn pays_off(now: Instant) -> bool {
    LAST.with(|last| match last.get() {
        Some((at, yes)) if now.saturating_duration_since(at) < RECHECK_EVERY => yes,
        _ => {
            let yes = cpus_here() > 1;
            last.set(Some((now, yes)));
            yes
        }
    })
}

/// How many CPUs the calling thread may run on: its affinity mask (one
/// system call, where `available_parallelism` also reads cgroup files).
fn cpus_here() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |cpus| cpus.count() as usize)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    use super::{RECHECK_EVERY, cpus_here, pays_off};

    /// Affinity is per thread: each test pins a thread of its own, never
    /// the test runner's.
    fn pin_this_thread_to_one_cpu() {
        let allowed = sched_getaffinity(None).unwrap();
        let first = (0..CpuSet::MAX_CPU)
            .find(|&cpu| allowed.is_set(cpu))
            .unwrap();
        let mut one = CpuSet::new();
        one.set(first);
        sched_setaffinity(None, &one).unwrap();
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_counts_one_and_never_spins() {
        let (cpus, spins) = std::thread::spawn(|| {
            pin_this_thread_to_one_cpu();
            (cpus_here(), pays_off(Instant::now()))
        })
        .join()
        .unwrap();
        assert_eq!(cpus, 1);
        assert!(!spins);
    }

    #[test]
    fn a_thread_pinned_later_stops_spinning_after_the_recheck() {
        std::thread::spawn(|| {
            let now = Instant::now();
            let before = pays_off(now);
            assert_eq!(before, cpus_here() > 1);
            pin_this_thread_to_one_cpu();
            // Within the recheck period the old answer stands...
            assert_eq!(pays_off(now), before);
            // ...and after it the pin is seen.
            assert!(!pays_off(now + RECHECK_EVERY));
        })
        .join()
        .unwrap();
    }
}
