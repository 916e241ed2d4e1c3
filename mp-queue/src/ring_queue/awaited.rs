//! Awaiting an item on an async executor (the `tokio` feature): a get that
//! finds nothing awaits the queue's doorbell (`doorbell`) on tokio's
//! reactor instead of sleeping on the futex, and tries again each time it
//! rings. Nothing is taken but by a `get` that does not wait, so a future
//! dropped between two tries has taken nothing.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mp_internal::Deadline;
use serde::de::DeserializeOwned;
use tokio::io::unix::AsyncFd;

use super::RingQueue;
use super::consumers::AfterTurn;
use crate::error::{Error, Result};
use crate::header::Wakeup;
use crate::wait::barrier;

impl RingQueue {
    /// `get`, awaiting the doorbell while there is nothing to take.
    ///
    /// Why no ring is lost. The waiter registers the doorbell and counts
    /// itself in `awaiting` once; before every try it announces a sleep in
    /// `sleeping` (as a blocking get does) and runs the heavy barrier, and
    /// it awaits only after a try that failed.
    ///
    /// - The try had the consumers' turn and found nothing. A producer
    ///   publishes, runs the light barrier, then loads `sleeping`
    ///   (`wake_consumers`). The two barriers pair (`wait::barrier`): the
    ///   try saw the item, or the producer's load sees the announcement or
    ///   a later store (another sleeper's 1, or the 0 of another waker,
    ///   which read an announcement itself). A waker that sees 1 stores 0
    ///   with sequential consistency, after the announcement in that
    ///   word's order, so its following load of `awaiting` comes after the
    ///   waiter's count in the single total order and sees it: it rings.
    /// - The turn was someone else's (a get in progress, a blocking get
    ///   waiting for data, `shutdown`). The waiter sets `turn_missed`, runs
    ///   the heavy barrier and tries once more; every consumers' turn ends
    ///   with the light barrier and a load of `turn_missed`
    ///   (`after_consumers_turn`): the second try saw that turn end, or
    ///   the turn's holder sees the 1 (or a later store, made by one that
    ///   rings) and rings.
    ///
    /// A ring is an edge on every registration of the doorbell, and tokio
    /// keeps that readiness until the waiter clears it, which it does
    /// before it announces again: a ring that comes while the waiter tries
    /// is not lost but makes the next await return at once. Registering an
    /// eventfd that was ever rung (its counter is never drained) reports it
    /// ready, so a ring from before the registration costs one more try.
    pub(crate) async fn get_async<T: DeserializeOwned>(&self) -> Result<T> {
        // Unannounced: it counts as any get, and ends with `after_consumers_turn`.
        match self.get(&Deadline::after(Duration::ZERO)) {
            Err(Error::Empty) => {}
            done => return done,
        }
        // A registration of its own, on a duplicate: epoll takes each
        // descriptor once per reactor, and several gets may await at once.
        let dup = rustix::io::fcntl_dupfd_cloexec(self.doorbell.as_fd(), 0)
            .map_err(std::io::Error::from)?;
        let bell = crate::sys_reactor::register_readable(dup)?;
        let data = &self.header().data.0;
        let _awaiting = Awaiting::count(data);
        loop {
            data.sleeping.store(1, Ordering::SeqCst);
            let mut fenced = barrier::heavy();
            let mut tried = self.try_take();
            if let Tried::Busy = tried {
                data.turn_missed.store(1, Ordering::SeqCst);
                fenced &= barrier::heavy();
                tried = self.try_take();
            }
            if let Tried::Done(done) = tried {
                return done;
            }
            if fenced {
                wait_for_ring(&bell).await?;
            } else {
                // No heavy barrier (`membarrier` refused): a waker relying
                // on it could go unseen, so look again after letting the
                // other tasks run, as a blocking get sleeps in short slices
                // then.
                mp_internal::yield_once().await;
            }
        }
    }

    /// A get that does not wait, telling an empty queue from a turn that
    /// is someone else's.
    fn try_take<T: DeserializeOwned>(&self) -> Tried<T> {
        if let Err(closed) = self.check_open() {
            return Tried::Done(Err(closed));
        }
        let now = Deadline::after(Duration::ZERO);
        let _after = AfterTurn(self);
        let Ok(_turn) = self.lock_consumers(&now) else {
            return Tried::Busy;
        };
        match self.get_in_turn(&now) {
            Err(Error::Empty) => Tried::Empty,
            done => Tried::Done(done),
        }
    }
}

enum Tried<T> {
    Done(Result<T>),
    /// Nothing to take (looked at in the consumers' turn).
    Empty,
    /// Another consumer's turn.
    Busy,
}

/// Awaits the next ring, and clears the readiness it consumed.
async fn wait_for_ring(bell: &AsyncFd<OwnedFd>) -> Result<()> {
    let mut ready = bell.readable().await?;
    ready.clear_ready();
    Ok(())
}

/// This get counted in `awaiting` while it awaits (also when its future
/// is dropped mid-wait). A process killed while awaiting leaves its count
/// behind: wakers then ring when nobody listens, a wasted `write`, never a
/// lost wake-up.
struct Awaiting<'a>(&'a AtomicU32);

impl Awaiting<'_> {
    fn count(wakeup: &Wakeup) -> Awaiting<'_> {
        wakeup.awaiting.fetch_add(1, Ordering::SeqCst);
        Awaiting(&wakeup.awaiting)
    }
}

impl Drop for Awaiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
