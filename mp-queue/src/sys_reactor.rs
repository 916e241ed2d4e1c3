//! Registering a queue's doorbell with tokio's reactor (the `tokio`
//! feature): the one unsafe call of the awaited get.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Registers `fd` for readable readiness on the current runtime's reactor
/// (it must have I/O enabled). Dropping the result deregisters and closes it.
pub(crate) fn register_readable(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is open, and names the same file description,
    // until it is dropped, which the `AsyncFd` owning it does last; its
    // `as_raw_fd` always returns that descriptor. Nothing swaps it out:
    // the `AsyncFd` stays inside `RingQueue::get_async`, which only awaits
    // its readiness (never `get_mut`).
    let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
    registered.map_err(io::Error::from)
}
