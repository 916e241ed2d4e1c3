//! `pipe()` and `pipe_simplex()`: a connected pair of `Connection`s over a
//! socketpair, with shared memory for the fast path when there is some.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::connection::Connection;
use crate::error::Result;
use crate::fast_path::{FastPath, RING_BYTES};
use crate::segment::Segment;

/// Creates a connected pair of duplex connections (Python's `Pipe()`).
///
/// Both ends can send and receive. Use [`pipe_simplex`] for Python's
/// `Pipe(duplex=False)`.
#[doc(alias = "Pipe")]
pub fn pipe() -> Result<(Connection, Connection)> {
    let (a, b) = socketpair()?;
    let pair = Connection::pair(a, b, true, true);
    Ok(with_fast_path(pair, (Some(1), Some(0)), (Some(0), Some(1))))
}

/// Creates a one-way pair `(receiver, sender)` (Python's `Pipe(duplex=False)`).
///
/// Receiving on the sender or sending on the receiver is an error
/// ([`Error::NotReadable`](crate::Error::NotReadable) /
/// [`Error::NotWritable`](crate::Error::NotWritable)).
#[doc(alias = "Pipe")]
pub fn pipe_simplex() -> Result<(Connection, Connection)> {
    let (a, b) = socketpair()?;
    rustix::net::shutdown(&a, rustix::net::Shutdown::Write)?;
    rustix::net::shutdown(&b, rustix::net::Shutdown::Read)?;
    let pair = Connection::pair(a, b, true, false);
    Ok(with_fast_path(pair, (Some(0), None), (None, Some(0))))
}

/// The ends of a pipe with shared memory, each with the lanes it reads and
/// writes. Without one (no memfd here: a seccomp filter, an old kernel)
/// the pipe works through its socket alone.
fn with_fast_path(
    (mut a, mut b): (Connection, Connection),
    a_lanes: (Option<usize>, Option<usize>),
    b_lanes: (Option<usize>, Option<usize>),
) -> (Connection, Connection) {
    if let Ok(segment) = Segment::create(RING_BYTES) {
        let segment = Arc::new(segment);
        a.fast = Some(FastPath::new(segment.clone(), a_lanes.0, a_lanes.1));
        b.fast = Some(FastPath::new(segment, b_lanes.0, b_lanes.1));
    }
    (a, b)
}

fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}
