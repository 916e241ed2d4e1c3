//! Waiting for sockets to become ready: a short spin, then a `poll` sleep.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use mp_internal::Deadline;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;

/// How long a wait polls without sleeping first. A peer that answers within
/// this time is seen at once, instead of after the 50-60 µs a cross-core
/// wake-up of an idle vCPU costs; a wait that sleeps anyway has spent this
/// much CPU first.
const SPIN_FOR: Duration = Duration::from_micros(30);

/// Polls `fds` until one is ready or the deadline passes; retries `EINTR`.
/// Returns the number of ready descriptors (0 on timeout).
///
/// It polls without sleeping for up to [`SPIN_FOR`] (or the time left, if
/// shorter) before it sleeps, if spinning pays off ([`mp_internal::spin`]).
pub(crate) fn poll(fds: &mut [PollFd<'_>], deadline: &Deadline) -> rustix::io::Result<usize> {
    let spin = deadline
        .remaining()
        .map_or(SPIN_FOR, |left| left.min(SPIN_FOR));
    if !spin.is_zero() && mp_internal::spin::is_useful() {
        let start = Instant::now();
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
    sleep(fds, deadline)
}

/// Sleeps in `poll` on `fds` until one is ready or the deadline passes,
/// without spinning first; retries `EINTR`.
pub(crate) fn sleep(fds: &mut [PollFd<'_>], deadline: &Deadline) -> rustix::io::Result<usize> {
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
    deadline: &Deadline,
) -> rustix::io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(fd, events)];
    Ok(poll(&mut fds, deadline)? > 0)
}
