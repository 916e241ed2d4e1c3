//! The doorbell: an eventfd per queue that wakes consumers awaiting an
//! item on an async executor (the `tokio` feature's `get_async`), whose
//! reactor can watch a descriptor but not the futex blocking gets sleep on.
//!
//! Every queue has one, created with the queue and carried in its handle
//! with the memfd, whether or not this build has the feature: a producer
//! in a process built without it still wakes a consumer awaiting in
//! another. It is rung (a `write` of 1) only when a consumer awaits: a
//! producer reads the count of awaiting consumers (`Wakeup::awaiting` of
//! the data wake-up) only on its slow path, when someone announced a sleep;
//! a get rings after its turn only if an awaiting consumer found that turn
//! taken (`Wakeup::turn_missed`, see `RingQueue::after_consumers_turn`).
//!
//! The counter is never read back: a reader draining it could swallow the
//! edge another process's reactor was about to report (epoll re-polls the
//! file before it reports an edge-triggered event). Every write is an edge
//! for every registration, drained or not, and 2^64 - 2 rings (the most an
//! eventfd counts) take centuries.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;

use rustix::event::EventfdFlags;
use rustix::fs::OFlags;

use crate::header::Wakeup;

/// A queue's eventfd.
#[derive(Debug)]
pub(crate) struct Doorbell {
    fd: OwnedFd,
}

impl Doorbell {
    /// A new doorbell (non-blocking: a ring never waits).
    pub(crate) fn create() -> io::Result<Doorbell> {
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Doorbell { fd })
    }

    /// A doorbell received in a queue's handle: only a non-blocking
    /// eventfd, as `create` makes, so that a forged handle cannot have
    /// producers write into another kind of file, or block on a ring.
    pub(crate) fn adopt(fd: OwnedFd) -> io::Result<Doorbell> {
        let link = rustix::fs::readlinkat(
            rustix::fs::CWD,
            format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)),
            Vec::new(),
        )?;
        let nonblocking = rustix::fs::fcntl_getfl(&fd)?.contains(OFlags::NONBLOCK);
        if link.as_bytes() != b"anon_inode:[eventfd]" || !nonblocking {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an mp queue's doorbell (a non-blocking eventfd)",
            ));
        }
        Ok(Doorbell { fd })
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Rings if a consumer awaits on `wakeup`. Called after the caller
    /// published its change and, on the way, ordered the load below after
    /// it (`wait::wake_all`'s barrier, or a sequentially consistent store
    /// to `sleeping`: see `RingQueue::get_async` for the whole argument).
    #[inline]
    pub(crate) fn ring_if_awaited(&self, wakeup: &Wakeup) {
        if wakeup.awaiting.load(Ordering::SeqCst) != 0 {
            self.ring();
        }
    }

    /// Rings: an edge for every registration.
    #[cold]
    pub(crate) fn ring(&self) {
        // Fails only with the counter at its maximum (see the module docs),
        // when every registration is readable anyway.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }
}
