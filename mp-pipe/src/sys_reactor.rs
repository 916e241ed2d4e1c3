//! Registering a connection's socket with tokio's reactor (the `tokio`
//! feature): the one unsafe call of the async receive.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::BorrowedFd;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Registers `fd` for readable readiness on the current runtime's reactor
/// (it must have I/O enabled). Dropping the result deregisters it.
pub(crate) fn register_readable(fd: BorrowedFd<'_>) -> io::Result<AsyncFd<BorrowedFd<'_>>> {
    // SAFETY: a `BorrowedFd<'a>` is open and names the same file
    // description for all of 'a, and the `AsyncFd` owning it cannot outlive
    // 'a; its `as_raw_fd` always returns that descriptor.
    let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
    registered.map_err(io::Error::from)
}
