use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;

/// When a blocking call must give up; `None` inside means never.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub(crate) const NEVER: Deadline = Deadline(None);

    /// A deadline `timeout` from now; a timeout too large to represent
    /// (`Duration::MAX`) means never.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Deadline {
        timeout.map_or(Deadline::NEVER, Deadline::after)
    }

    pub(crate) fn is_never(self) -> bool {
        self.0.is_none()
    }

    /// Time left, `None` for never; zero once passed.
    pub(crate) fn remaining(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The earlier of two deadlines.
    pub(crate) fn min(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (a, b) => Deadline(a.or(b)),
        }
    }
}

/// How long a wait polls without sleeping first. A peer that answers within
/// this time is seen at once, instead of after the 50-60 µs a cross-core
/// wake-up of an idle vCPU costs; a wait that sleeps anyway has spent this
/// much CPU first.
const SPIN_FOR: Duration = Duration::from_micros(30);

/// How long a thread trusts its last look at how many CPUs it may use.
const RECHECK_EVERY: Duration = Duration::from_millis(100);

thread_local! {
    /// When the thread last looked, and whether it could spin then.
    static SPIN: Cell<Option<(Instant, bool)>> = const { Cell::new(None) };
}

/// Whether a wait starting `now` spins before it sleeps: only when the
/// thread may run on more than one CPU. On one CPU (pinned with `taskset`,
/// or a one-CPU container) the peer cannot run while we spin, so every
/// spin would burn its whole length and delay the answer by as much.
///
/// The answer is kept for [`RECHECK_EVERY`], so a thread pinned later
/// (or a forked child pinned by its parent) stops spinning soon after.
fn spin_pays_off(now: Instant) -> bool {
    SPIN.with(|last| match last.get() {
        Some((at, yes)) if now.saturating_duration_since(at) < RECHECK_EVERY => yes,
        _ => {
            let yes = cpus_here() > 1;
            last.set(Some((now, yes)));
            yes
        }
    })
}

/// How many CPUs the calling thread may run on (its affinity mask: one
/// system call, where `available_parallelism` also reads cgroup files).
fn cpus_here() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |cpus| cpus.count() as usize)
}

/// Polls `fds` until one is ready or the deadline passes; retries `EINTR`.
/// Returns the number of ready descriptors (0 on timeout).
///
/// It polls without sleeping for up to [`SPIN_FOR`] (or the time left, if
/// shorter) before it sleeps, if [spinning pays off](spin_pays_off).
pub(crate) fn poll(fds: &mut [PollFd<'_>], deadline: Deadline) -> rustix::io::Result<usize> {
    let spin = deadline
        .remaining()
        .map_or(SPIN_FOR, |left| left.min(SPIN_FOR));
    let start = Instant::now();
    if !spin.is_zero() && spin_pays_off(start) {
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            match rustix::event::poll(fds, Some(&zero)) {
                Ok(0) | Err(Errno::INTR) => {}
                other => return other,
            }
            if start.elapsed() >= spin {
                break;
            }
            std::hint::spin_loop();
        }
    }
    loop {
        let timeout = deadline.remaining().map(|d| Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        match rustix::event::poll(fds, timeout.as_ref()) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Waits until `fd` has one of `events` (or an error/hang-up); false on timeout.
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Deadline,
) -> rustix::io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(fd, events)];
    Ok(poll(&mut fds, deadline)? > 0)
}

#[cfg(test)]
mod tests {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    use super::{RECHECK_EVERY, cpus_here, spin_pays_off};
    use std::time::Instant;

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
            (cpus_here(), spin_pays_off(Instant::now()))
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
            let before = spin_pays_off(now);
            assert_eq!(before, cpus_here() > 1);
            pin_this_thread_to_one_cpu();
            // Within the recheck period the old answer stands...
            assert_eq!(spin_pays_off(now), before);
            // ...and after it the pin is seen.
            assert!(!spin_pays_off(now + RECHECK_EVERY));
        })
        .join()
        .unwrap();
    }
}
