//! Where the chunks of an `imap` arrive, by chunk number, until its
//! iterator takes them: shared by the process pool's and the thread pool's
//! iterators.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, PoisonError, Weak};
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
}

impl<R> Arrivals<R> {
    pub(crate) fn new() -> Arrivals<R> {
        Arrivals {
            arrived: Mutex::new(Arrived {
                chunks: HashMap::new(),
                order: VecDeque::new(),
                failed: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// Chunk `seq` arrived with these items.
    pub(crate) fn put(&self, seq: usize, items: Vec<Result<R>>) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        arrived.chunks.insert(seq, items);
        arrived.order.push_back(seq);
        drop(arrived);
        self.changed.notify_all();
    }

    /// The chunks still out will never arrive: the iterator ends with `reason`.
    pub(crate) fn fail(&self, reason: &Error) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        arrived.failed.get_or_insert_with(|| reason.clone());
        drop(arrived);
        self.changed.notify_all();
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
            arrived.failed.is_some()
                || if ordered {
                    arrived.chunks.contains_key(&wanted)
                } else {
                    !arrived.order.is_empty()
                }
        })?;
        let seq = if ordered {
            arrived.chunks.contains_key(&wanted).then(|| {
                arrived.order.retain(|&s| s != wanted);
                wanted
            })
        } else {
            arrived.order.pop_front()
        };
        Ok(match seq {
            Some(seq) => Ok(arrived.chunks.remove(&seq).expect("the chunk arrived")),
            None => Err(arrived.failed.clone().expect("waited for it")),
        })
    }
}
