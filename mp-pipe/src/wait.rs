//! `wait()` on many connections, listeners and processes (Python's `connection.wait`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use mp_internal::Deadline;

use crate::Connection;
use crate::poll;

/// How long `wait` spins before it sleeps (as a connection's `recv`).
const SPIN_FOR: Duration = crate::fast_path::SPIN_FOR;

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

    /// Ready without polling (data already buffered in user space, or in
    /// shared memory).
    fn ready_now(&self) -> bool {
        false
    }

    /// Called before [`wait`] sleeps on [`wait_fd`](Waitable::wait_fd):
    /// tells whoever makes this object ready without touching its
    /// descriptor (a pipe's writer publishing in shared memory) to touch
    /// it. True if the object became ready meanwhile (then nothing is left
    /// announced). Each announcement is followed by one
    /// [`after_sleep`](Waitable::after_sleep).
    fn before_sleep(&self) -> bool {
        false
    }

    /// Takes back a [`before_sleep`](Waitable::before_sleep) announcement.
    fn after_sleep(&self) {}

    /// After the descriptor polled readable: whether the object is really
    /// ready (a pipe's descriptor may have been touched only to wake a
    /// sleeper for a message another reader took).
    fn confirm_ready(&self) -> bool {
        true
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

    fn before_sleep(&self) -> bool {
        (**self).before_sleep()
    }

    fn after_sleep(&self) {
        (**self).after_sleep()
    }

    fn confirm_ready(&self) -> bool {
        (**self).confirm_ready()
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
#[doc = concat!("let (a1, b1) = ", crate::mp_crate!(pipe), "::pipe()?;")]
#[doc = concat!("let (_a2, b2) = ", crate::mp_crate!(pipe), "::pipe()?;")]
/// a1.send(&1u8)?;
#[doc = concat!("let ready = ", crate::mp_crate!(pipe), "::wait(&[&b1, &b2], Some(Duration::from_secs(5)))?;")]
/// assert_eq!(ready, [0]);
/// # Ok(())
/// # }
/// ```
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    wait_with(objects, timeout, true)
}

/// [`wait`] without its short spin: the caller sleeps at once if nothing
/// is ready.
///
/// For a waiter that would rather hand its CPU over than look for a
/// while: a forkserver, whose newly forked child is queued on the
/// forkserver's CPU until it sleeps (the spin made each child start up to
/// 30 µs later; the next request, which the spin might catch, comes after
/// the client has woken up for the reply).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
#[doc = concat!("let (a, b) = ", crate::mp_crate!(pipe), "::pipe()?;")]
#[doc = concat!("assert!(", crate::mp_crate!(pipe), "::wait_without_spin(&[&b], Some(Duration::from_millis(10)))?.is_empty());")]
/// a.send(&1u8)?;
#[doc = concat!("assert_eq!(", crate::mp_crate!(pipe), "::wait_without_spin(&[&b], Some(Duration::from_secs(5)))?, [0]);")]
/// # Ok(())
/// # }
/// ```
pub fn wait_without_spin(
    objects: &[&dyn Waitable],
    timeout: Option<Duration>,
) -> io::Result<Vec<usize>> {
    wait_with(objects, timeout, false)
}

fn wait_with(
    objects: &[&dyn Waitable],
    timeout: Option<Duration>,
    spin_first: bool,
) -> io::Result<Vec<usize>> {
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
    let deadline = Deadline::from_timeout(timeout);
    let ready_now = || -> Vec<usize> {
        (0..objects.len())
            .filter(|&i| objects[i].ready_now())
            .collect()
    };
    // A short spin first, on the descriptors and on what is ready without
    // them (a message in a pipe's shared memory).
    let spin = deadline
        .remaining()
        .map_or(SPIN_FOR, |left| left.min(SPIN_FOR));
    let mut spun = !spin_first;
    loop {
        let buffered = ready_now();
        if !buffered.is_empty() {
            poll::sleep(&mut fds, &Deadline::after(Duration::ZERO))?;
            return Ok(collect(objects, &fds, &buffered));
        }
        if !spun {
            spun = true;
            let now = Deadline::after(Duration::ZERO);
            let mut polled = Ok(0);
            mp_internal::spin::until(spin, || {
                polled = poll::sleep(&mut fds, &now);
                !matches!(polled, Ok(0)) || objects.iter().any(|o| o.ready_now())
            });
            polled?;
            let ready = collect(objects, &fds, &ready_now());
            if !ready.is_empty() {
                return Ok(ready);
            }
        }
        // Announce the sleep to each object, then sleep on the descriptors.
        let mut announced = Vec::with_capacity(objects.len());
        let mut woke_early = false;
        for (i, object) in objects.iter().enumerate() {
            if object.before_sleep() {
                woke_early = true;
                break;
            }
            announced.push(i);
        }
        let slept = if woke_early {
            Ok(0)
        } else {
            poll::sleep(&mut fds, &deadline)
        };
        for &i in &announced {
            objects[i].after_sleep();
        }
        slept?;
        let ready = collect(objects, &fds, &ready_now());
        if !ready.is_empty() || deadline.passed() {
            return Ok(ready);
        }
        if !woke_early {
            // Woken for nothing (a doorbell for a message another reader
            // took): clear the readiness seen and sleep again.
            for fd in &mut fds {
                fd.clear_revents();
            }
        }
    }
}

/// A connection is ready when a message (or end of file) can be received;
/// a pipe's connection also announces its sleeps to the pipe's writers.
impl Waitable for Connection {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd().ok()
    }

    fn ready_now(&self) -> bool {
        // With a handshake still to finish, `confirm_ready` decides.
        self.deferred.as_ref().is_none_or(|d| !d.pending()) && self.has_buffered_message()
    }

    fn before_sleep(&self) -> bool {
        self.fast
            .as_ref()
            .is_some_and(crate::fast_path::FastPath::announce_sleep)
    }

    fn after_sleep(&self) {
        if let Some(fast) = &self.fast {
            fast.end_sleep();
        }
    }

    fn confirm_ready(&self) -> bool {
        if let Some(deferred) = self.deferred.as_ref().filter(|d| d.pending()) {
            // Readable may mean only the rest of the handshake arrived.
            let now = Deadline::after(Duration::ZERO);
            return match (deferred.finish(self, &now), self.read_fd()) {
                (Err(crate::Error::Timeout), _) => false,
                (Ok(()), Ok(fd)) => {
                    self.has_buffered_message()
                        || poll::poll_one(fd, PollFlags::IN, &now).unwrap_or(true)
                }
                // An error is for the receive to report: ready.
                _ => true,
            };
        }
        match (&self.fast, self.read_fd()) {
            // An error is for the receive to report: ready.
            (Some(fast), Ok(fd)) => fast.confirm_ready(fd).unwrap_or(true),
            _ => true,
        }
    }
}

/// The ready objects, in order: those ready without polling, and those
/// whose descriptor polled ready and that confirm it.
fn collect(objects: &[&dyn Waitable], fds: &[PollFd<'_>], buffered: &[usize]) -> Vec<usize> {
    (0..objects.len())
        .filter(|&i| {
            buffered.contains(&i) || (!fds[i].revents().is_empty() && objects[i].confirm_ready())
        })
        .collect()
}
