//! [`QueueProxy`] and [`JoinableQueueProxy`]: queues on the server
//! (Python's `manager.Queue()` and `manager.JoinableQueue()`).

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::object_ref::{ObjectRef, decode_item, encode_item, proxy_plumbing, unexpected};
use crate::proxy::{boolean, count, to_usize, unit, wait_for};
use crate::wire::{Answer, Op, Wait};

/// The queue methods shared by [`QueueProxy`] and [`JoinableQueueProxy`].
macro_rules! queue_methods {
    () => {
        /// Puts `value` at the back, waiting while a bounded queue is full.
        pub fn put<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<()>
        where
            T: Borrow<Q>,
        {
            self.put_wait(value, Wait::Forever)
        }

        /// Like [`put`](Self::put), giving up with
        /// [`Error::Full`](crate::Error::Full) after `timeout`.
        pub fn put_timeout<Q: Serialize + ?Sized>(&self, value: &Q, timeout: Duration) -> Result<()>
        where
            T: Borrow<Q>,
        {
            self.put_wait(value, wait_for(timeout))
        }

        /// Puts `value` only if there is room now; else
        /// [`Error::Full`](crate::Error::Full).
        #[doc(alias = "put_nowait")]
        pub fn try_put<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<()>
        where
            T: Borrow<Q>,
        {
            self.put_wait(value, Wait::Now)
        }

        fn put_wait<Q: Serialize + ?Sized>(&self, value: &Q, wait: Wait) -> Result<()>
        where
            T: Borrow<Q>,
        {
            let pool = self.object.pool();
            let item = encode_item(&pool, value)?;
            unit(self.object.call_on(&pool, Op::QPut(item, wait), wait)?)
        }

        /// Takes the front item, waiting until there is one.
        pub fn get(&self) -> Result<T> {
            self.get_wait(Wait::Forever)
        }

        /// Like [`get`](Self::get), giving up with
        /// [`Error::Empty`](crate::Error::Empty) after `timeout`.
        pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
            self.get_wait(wait_for(timeout))
        }

        /// Takes the front item if there is one now; else
        /// [`Error::Empty`](crate::Error::Empty).
        #[doc(alias = "get_nowait")]
        pub fn try_get(&self) -> Result<T> {
            self.get_wait(Wait::Now)
        }

        fn get_wait(&self, wait: Wait) -> Result<T> {
            match self.object.call(Op::QGet(wait), wait)? {
                (pool, Answer::Item(item)) => decode_item(&pool, item),
                (_, other) => Err(unexpected(other)),
            }
        }

        /// The number of items (Python's `qsize`; a snapshot).
        pub fn qsize(&self) -> Result<usize> {
            count(self.object.op(Op::QSize)?.1).map(to_usize)
        }

        /// Whether the queue is empty (Python's `empty`). A `Result`, unlike
        /// the local queue's `bool`: the answer is a round trip to the
        /// manager, which can be gone (see the [crate docs](crate#why-every-proxy-method-returns-result)).
        #[doc(alias = "empty")]
        pub fn is_empty(&self) -> Result<bool> {
            self.qsize().map(|n| n == 0)
        }

        /// Whether a bounded queue is full (Python's `full`).
        #[doc(alias = "full")]
        pub fn is_full(&self) -> Result<bool> {
            let max = count(self.object.op(Op::QMaxSize)?.1)?;
            Ok(max > 0 && self.qsize()? as u64 >= max)
        }

        /// The bound given at creation (0: unbounded).
        pub fn maxsize(&self) -> Result<usize> {
            count(self.object.op(Op::QMaxSize)?.1).map(to_usize)
        }

        /// Shuts the queue down for every client (Python 3.13's
        /// `shutdown(immediate)`): puts fail with
        /// [`Error::ShutDown`](crate::Error::ShutDown); gets take what is
        /// left, then fail with it; with `immediate` the items are dropped
        /// first (each counting as a task done, which releases a waiting
        /// `join`). Blocked puts, gets and joins wake up.
        pub fn shutdown(&self, immediate: bool) -> Result<()> {
            unit(self.object.op(Op::QShutdown { immediate })?.1)
        }
    };
}

/// A FIFO queue on the manager's server (Python's `manager.Queue()`).
///
/// Unlike `multiprocessing.Queue`, it can be used by processes that did not
/// inherit it (any process that can reach the manager, on any host), and a
/// `put` returns only when the item is on the server. A `get` blocked on
/// the server gives up without taking an item if its caller goes away.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let q = manager.queue::<u32>()?;
/// for n in [1, 4, 9] {
///     q.put(&n)?;
/// }
/// assert_eq!(q.get()?, 1);
/// assert_eq!(q.qsize()?, 2);
/// q.shutdown(false)?;
#[doc = concat!("assert!(matches!(q.put(&16), Err(", crate::mp_crate!(manager), "::Error::ShutDown)));")]
/// assert_eq!(q.get()?, 4); // what is left is still delivered
/// # Ok(())
/// # }
/// ```
pub struct QueueProxy<T> {
    object: ObjectRef,
    _types: PhantomData<fn() -> T>,
}

proxy_plumbing!(QueueProxy<T>, [Queue, JoinableQueue]);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    queue_methods!();
}

/// A queue with `task_done` and `join` (Python's `manager.JoinableQueue()`).
pub struct JoinableQueueProxy<T> {
    object: ObjectRef,
    _types: PhantomData<fn() -> T>,
}

proxy_plumbing!(JoinableQueueProxy<T>, [JoinableQueue]);

impl<T: Serialize + DeserializeOwned> JoinableQueueProxy<T> {
    queue_methods!();

    /// Marks one item taken with `get` as processed.
    /// [`Error::TooManyReleases`](crate::Error::TooManyReleases) if every
    /// item is already done.
    pub fn task_done(&self) -> Result<()> {
        unit(self.object.op(Op::QTaskDone)?.1)
    }

    /// Waits until every item put has been marked done.
    pub fn join(&self) -> Result<()> {
        boolean(self.object.call(Op::QJoin(Wait::Forever), Wait::Forever)?.1).map(|_| ())
    }

    /// Like [`join`](Self::join), up to `timeout`; `false` if items are
    /// still pending.
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        let wait = wait_for(timeout);
        boolean(self.object.call(Op::QJoin(wait), wait)?.1)
    }
}
