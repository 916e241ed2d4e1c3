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

/// Polls `fds` until one is ready or the deadline passes; retries `EINTR`.
/// Returns the number of ready descriptors (0 on timeout).
pub(crate) fn poll(fds: &mut [PollFd<'_>], deadline: Deadline) -> rustix::io::Result<usize> {
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
