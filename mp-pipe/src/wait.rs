use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use mp_internal::Deadline;

use crate::poll::poll;

/// Something [`wait`] can wait on: it is ready when its descriptor is
/// readable (or hung up), or when it already holds data.
///
/// Implemented by [`Connection`](crate::Connection) (a message or end of
/// file is available), [`Listener`](crate::Listener) (a peer is waiting),
/// process handles in `mp-process` (the process ended), and plain
/// descriptors.
pub trait Waitable {
    /// The descriptor to poll for readability; `None` if there is none
    /// (closed, or a process that was never started).
    fn wait_fd(&self) -> Option<BorrowedFd<'_>>;

    /// Ready without polling (data already buffered in user space).
    fn ready_now(&self) -> bool {
        false
    }
}

impl Waitable for BorrowedFd<'_> {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

impl Waitable for OwnedFd {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        (**self).wait_fd()
    }

    fn ready_now(&self) -> bool {
        (**self).ready_now()
    }
}

/// Waits until at least one object is ready and returns the indexes of the
/// ready ones, in order (Python's `multiprocessing.connection.wait`).
///
/// `timeout` of `None` waits forever; on timeout the result is empty.
/// An object without a descriptor (closed, never started) is an
/// `InvalidInput` error.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let (a1, b1) = mp_pipe::pipe()?;
/// let (_a2, b2) = mp_pipe::pipe()?;
/// a1.send(&1u8)?;
/// let ready = mp_pipe::wait(&[&b1, &b2], Some(Duration::from_secs(5)))?;
/// assert_eq!(ready, [0]);
/// # Ok(())
/// # }
/// ```
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    let mut fds = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        let fd = object.wait_fd().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("object #{i} has nothing to wait on"),
            )
        })?;
        fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
    }
    let buffered: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].ready_now())
        .collect();
    let deadline = if buffered.is_empty() {
        Deadline::from_timeout(timeout)
    } else {
        Deadline::after(Duration::ZERO)
    };
    poll(&mut fds, &deadline)?;
    Ok((0..objects.len())
        .filter(|&i| buffered.contains(&i) || !fds[i].revents().is_empty())
        .collect())
}
