//! Where the chunks of an `imap` arrive, by chunk number, until its
//! iterator takes them: shared by the process pool's and the thread pool's
//! iterators.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::result::{Stop, block_until};

/// Chunks that arrived and were not yet taken by the iterator.
pub(crate) struct Arrivals<R> {
    arrived: Mutex<Arrived<R>>,
    changed: Condvar,
}

struct Arrived<R> {
    chunks: HashMap<usize, Vec<Result<R>>>,
    /// Chunk numbers in order of arrival (for `imap_unordered`).
    order: VecDeque<usize>,
    /// Why the chunks still out will never arrive (a terminated thread
    /// pool).
    failed: Option<Error>,
    /// The task awaiting a chunk, if any (registered and taken under the
    /// lock, so no arrival is missed).
    waker: Option<Waker>,
}

impl<R> Arrived<R> {
    fn has(&self, wanted: usize, ordered: bool) -> bool {
        self.failed.is_some()
            || if ordered {
                self.chunks.contains_key(&wanted)
            } else {
                !self.order.is_empty()
            }
    }

    /// Takes what `has` found.
    fn pick(&mut self, wanted: usize, ordered: bool) -> Result<Vec<Result<R>>> {
        let seq = if ordered {
            self.chunks.contains_key(&wanted).then(|| {
                self.order.retain(|&s| s != wanted);
                wanted
            })
        } else {
            self.order.pop_front()
        };
        match seq {
            Some(seq) => Ok(self.chunks.remove(&seq).expect("the chunk arrived")),
            None => Err(self.failed.clone().expect("waited for it")),
        }
    }
}

impl<R> Arrivals<R> {
    pub(crate) fn new() -> Arrivals<R> {
        Arrivals {
            arrived: Mutex::new(Arrived {
                chunks: HashMap::new(),
                order: VecDeque::new(),
                failed: None,
                waker: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// Chunk `seq` arrived with these items.
    pub(crate) fn put(&self, seq: usize, items: Vec<Result<R>>) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        arrived.chunks.insert(seq, items);
        arrived.order.push_back(seq);
        let waker = arrived.waker.take();
        drop(arrived);
        self.changed.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The chunks still out will never arrive: the iterator ends with `reason`.
    pub(crate) fn fail(&self, reason: &Error) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        arrived.failed.get_or_insert_with(|| reason.clone());
        let waker = arrived.waker.take();
        drop(arrived);
        self.changed.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// [`take`](Arrivals::take) for a task: `Pending` (and `cx`'s waker
    /// woken when a chunk arrives or the iterator fails) if nothing is there.
    pub(crate) fn poll_take(
        &self,
        wanted: usize,
        ordered: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<Result<R>>>> {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        if arrived.has(wanted, ordered) {
            return Poll::Ready(arrived.pick(wanted, ordered));
        }
        match &mut arrived.waker {
            Some(known) if known.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits (until `deadline`, or Ctrl-C, which stops `pool`) for chunk
    /// `wanted` (`ordered`), or for whichever chunk came first, and takes
    /// it. `Err(reason)` of [`fail`](Arrivals::fail) when it will not come;
    /// the wait's own error ([`Error::Timeout`], ...) loses nothing.
    pub(crate) fn take<P: Stop + ?Sized>(
        &self,
        wanted: usize,
        ordered: bool,
        deadline: Option<Instant>,
        pool: &Weak<P>,
    ) -> Result<Result<Vec<Result<R>>>> {
        let mut arrived = block_until(&self.arrived, &self.changed, deadline, pool, |arrived| {
            arrived.has(wanted, ordered)
        })?;
        Ok(arrived.pick(wanted, ordered))
    }
}
