//! The typed queues users hold: `Queue`, `JoinableQueue`, `SimpleQueue`,
//! and `QueueBuilder`, each a handle on one shared `RingQueue`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ring_queue::{Config, RingQueue};
use mp_internal::Deadline;

/// Ring bytes per queue unless set with [`QueueBuilder::ring_size`]. The
/// memory is only touched as it is used.
pub const DEFAULT_RING_SIZE: usize = 16 << 20;

/// The largest ring a queue may have.
pub const MAX_RING_SIZE: usize = 1 << 30;

/// Settings for a new queue.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(queue), "::{Queue, QueueBuilder};")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(queue), "::Error> {")]
/// let q: Queue<String> = QueueBuilder::new().maxsize(10).ring_size(1 << 20).build()?;
/// assert_eq!(q.maxsize(), Some(10));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct QueueBuilder {
    config: Config,
}

impl Default for QueueBuilder {
    fn default() -> QueueBuilder {
        QueueBuilder::new()
    }
}

impl QueueBuilder {
    /// Default settings: no `maxsize`, a [`DEFAULT_RING_SIZE`] ring.
    pub fn new() -> QueueBuilder {
        QueueBuilder {
            config: Config {
                maxsize: 0,
                ring_size: DEFAULT_RING_SIZE,
            },
        }
    }

    /// At most `n` items in the queue at once (Python's `Queue(maxsize)`);
    /// 0 means no limit on the count.
    pub fn maxsize(mut self, n: usize) -> Self {
        self.config.maxsize = n as u64;
        self
    }

    /// The size of the shared ring in bytes (rounded up to a power of two, at
    /// least a page, at most
    /// [`MAX_RING_SIZE`]): how much queued data the queue holds before `put`
    /// waits for consumers. A message larger than the ring still goes
    /// through, streamed as consumers make room.
    pub fn ring_size(mut self, bytes: usize) -> Self {
        self.config.ring_size = bytes.min(MAX_RING_SIZE);
        self
    }

    /// Builds a [`Queue`].
    pub fn build<T>(self) -> Result<Queue<T>> {
        Ok(Queue::from_ring_queue(RingQueue::create(self.config)?))
    }

    /// Builds a [`JoinableQueue`].
    pub fn build_joinable<T>(self) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: self.build()?,
        })
    }
}

/// A FIFO queue between processes (Python's `multiprocessing.Queue`).
///
/// Items are serde values; `put` serializes them straight into a shared
/// memory ring and returns once the item is there (there is no feeder
/// thread: an error reaches the caller, and nothing is lost if the process
/// exits right after `put`). Many processes may put and get at once; each
/// producer's items arrive in its order.
///
/// A `Queue` is a handle: clone it to share it between threads, pass it
/// (or a clone) as a `Process` argument to share it with a child.
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(queue), "::Queue;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(queue), "::Error> {")]
/// let q: Queue<u32> = Queue::new()?;
/// for n in [1, 2, 3, 4] {
///     q.put(&(n * n))?;
/// }
/// assert_eq!(q.qsize(), 4);
/// assert_eq!(q.get()?, 1);
/// assert_eq!(q.try_get()?, 4);
/// # Ok(())
/// # }
/// ```
pub struct Queue<T> {
    shared: Arc<RingQueue>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Queue<T> {
    /// An unbounded queue (bounded only by its ring's memory).
    pub fn new() -> Result<Queue<T>> {
        QueueBuilder::new().build()
    }

    /// A queue that holds at most `n` items (Python's `Queue(maxsize=n)`).
    pub fn with_maxsize(n: usize) -> Result<Queue<T>> {
        QueueBuilder::new().maxsize(n).build()
    }

    fn from_ring_queue(shared: RingQueue) -> Queue<T> {
        Queue {
            shared: Arc::new(shared),
            _items: PhantomData,
        }
    }

    /// The number of items in the queue (Python's `qsize`; approximate while
    /// other processes put and get).
    pub fn qsize(&self) -> usize {
        self.shared.qsize() as usize
    }

    /// Whether the queue holds no items (Python's `empty`).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.shared.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items (Python's `full`); always
    /// false without a `maxsize`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        let max = self.shared.maxsize();
        max > 0 && self.shared.qsize() >= max
    }

    /// The `maxsize` the queue was created with, if any.
    pub fn maxsize(&self) -> Option<usize> {
        Some(self.shared.maxsize() as usize).filter(|&n| n > 0)
    }

    /// Closes the queue in this process (Python's `close`): later puts and
    /// gets through any handle of this queue in this process fail with
    /// [`Error::Closed`](crate::Error::Closed), and blocked ones wake up with
    /// it. Other processes are not affected: to stop the queue for
    /// everyone, use [`shutdown`](Queue::shutdown).
    pub fn close(&self) {
        self.shared.close();
    }

    /// Shuts the queue down for every process that holds it (Python 3.13's
    /// `Queue.shutdown(immediate)`).
    ///
    /// From then on every `put`, in any process, fails with
    /// [`Error::ShutDown`](crate::Error::ShutDown), and blocked puts wake
    /// up with it.
    ///
    /// - `immediate == false`: gets go on taking what is in the queue and
    ///   fail with `ShutDown` once it is empty (blocked gets wake up with it).
    /// - `immediate == true`: the items in the queue are dropped, each one
    ///   counted as a task done (so a [`JoinableQueue::join`] waiting only
    ///   on them returns), and every get fails with `ShutDown` at once.
    ///   This waits for the put and the get in progress, if any, to finish.
    ///
    /// Shutting down again is allowed (`immediate` then still drops what
    /// is there). Unlike [`close`](Queue::close), which only stops this
    /// process's use of the queue, shutdown is a state of the queue itself.
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(queue), "::{Error, Queue};")]
    ///
    /// # fn main() -> Result<(), Error> {
    /// let q: Queue<u32> = Queue::new()?;
    /// q.put(&1)?;
    /// q.shutdown(false);
    /// assert!(matches!(q.put(&2), Err(Error::ShutDown)));
    /// assert_eq!(q.get()?, 1); // what was there is still delivered
    /// assert!(matches!(q.get(), Err(Error::ShutDown))); // then: shut down, no wait
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        self.shared.shutdown(immediate);
    }

    /// Whether [`shutdown`](Queue::shutdown) was called on this queue, in
    /// any process (Python's `is_shutdown`).
    #[doc(alias = "is_shutdown")]
    pub fn is_shut_down(&self) -> bool {
        self.shared.shutdown_state() != 0
    }

    /// Messages lost so far because a process died while putting or getting
    /// them.
    pub fn torn(&self) -> u64 {
        self.shared.torn()
    }
}

impl<T: Serialize> Queue<T> {
    /// Puts an item, waiting while the queue is full (Python's `put`).
    ///
    /// An item that cannot be serialized is [`Error::Encode`](crate::Error::Encode),
    /// and the queue is unchanged.
    pub fn put(&self, item: &T) -> Result<()> {
        self.shared.put(item, &Deadline::never(), false)
    }

    /// Like [`put`](Queue::put), waiting at most `timeout`;
    /// [`Error::Full`](crate::Error::Full) if there was no room in time, and
    /// then the queue is as it was (an item larger than the ring that had
    /// begun to stream through it is dropped by the consumers, not torn).
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.shared.put(item, &Deadline::after(timeout), false)
    }

    /// Puts an item only if there is room right now (Python's `put_nowait`).
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: &T) -> Result<()> {
        self.shared
            .put(item, &Deadline::after(Duration::ZERO), false)
    }
}

impl<T: DeserializeOwned> Queue<T> {
    /// Takes the oldest item, waiting until there is one (Python's `get`).
    ///
    /// An item that does not decode as `T` is taken off the queue and
    /// reported as [`Error::Decode`](crate::Error::Decode).
    pub fn get(&self) -> Result<T> {
        self.shared.get(&Deadline::never())
    }

    /// Like [`get`](Queue::get), waiting at most `timeout`;
    /// [`Error::Empty`](crate::Error::Empty) if nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.shared.get(&Deadline::after(timeout))
    }

    /// Takes an item only if one is there right now (Python's `get_nowait`).
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T> {
        self.shared.get(&Deadline::after(Duration::ZERO))
    }

    /// Takes the oldest item without blocking the async executor (the
    /// `tokio` feature): what [`get`](Queue::get) does, awaiting the
    /// queue's doorbell (an eventfd) on tokio's reactor while there is
    /// nothing to take, instead of sleeping on the futex. No thread waits.
    ///
    /// Items, their order and the errors are [`get`](Queue::get)'s: each
    /// item goes to exactly one consumer, whether it gets, awaits, or both,
    /// in any process; a shut down queue gives
    /// [`Error::ShutDown`](crate::Error::ShutDown), a closed one
    /// [`Error::Closed`](crate::Error::Closed), the remains of a message
    /// whose producer died mid-put [`Error::Torn`](crate::Error::Torn). It
    /// needs a tokio runtime with I/O enabled (`enable_io`, part of
    /// `enable_all`) once it has to wait; a current-thread runtime is
    /// enough.
    ///
    /// **Cancellation safe:** an item is taken only in the poll that
    /// returns it, so dropping the future (a `select!` branch that lost, a
    /// timeout) never loses one. There is no timeout form: wrap the future
    /// in `tokio::time::timeout`, whose `Elapsed` means what
    /// [`Error::Empty`](crate::Error::Empty) means for
    /// [`get_timeout`](Queue::get_timeout).
    ///
    /// A message larger than the ring (which streams through it) is read to
    /// its end on the executor's thread once its first part is taken, as
    /// fast as its producer writes it.
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(queue), "::Queue;")]
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let q: Queue<String> = Queue::new()?;
    /// let rt = tokio::runtime::Builder::new_current_thread()
    ///     .enable_all()
    ///     .build()?;
    /// let producer = q.clone();
    /// let got = rt.block_on(async {
    ///     // Another process (or thread) puts while this task awaits.
    ///     std::thread::spawn(move || producer.put(&"job".to_string()));
    ///     q.get_async().await
    /// })?;
    /// assert_eq!(got, "job");
    /// // The timeout form: nothing more comes, and nothing is lost.
    /// let late = rt.block_on(async {
    ///     tokio::time::timeout(Duration::from_millis(20), q.get_async()).await
    /// });
    /// assert!(late.is_err());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn get_async(&self) -> Result<T> {
        self.shared.get_async().await
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Queue<T> {
        Queue {
            shared: self.shared.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shared.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Queue<T>, D::Error> {
        RingQueue::deserialize(deserializer).map(Queue::from_ring_queue)
    }
}

/// A [`Queue`] whose consumers report each item done, so that producers can
/// wait until all work is finished (Python's `JoinableQueue`).
///
/// [`shutdown`](Queue::shutdown) works as for a `Queue`; with `immediate`
/// the dropped items count as done, which releases a waiting `join`:
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(queue), "::{Error, JoinableQueue};")]
///
/// # fn main() -> Result<(), Error> {
/// let q: JoinableQueue<u32> = JoinableQueue::new()?;
/// q.put(&1)?;
/// q.put(&2)?;
/// q.shutdown(true);
/// q.join()?; // both items were dropped: nothing is unfinished
/// assert!(matches!(q.get(), Err(Error::ShutDown)));
/// assert!(matches!(q.task_done(), Err(Error::TooManyTaskDone)));
/// # Ok(())
/// # }
/// ```
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(queue), "::JoinableQueue;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(queue), "::Error> {")]
/// let q: JoinableQueue<String> = JoinableQueue::new()?;
/// q.put(&"job".to_string())?;
/// assert_eq!(q.get()?, "job");
/// assert_eq!(q.unfinished_tasks(), 1);
/// q.task_done()?;
/// q.join()?;
/// # Ok(())
/// # }
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> JoinableQueue<T> {
    /// An unbounded joinable queue.
    pub fn new() -> Result<JoinableQueue<T>> {
        QueueBuilder::new().build_joinable()
    }

    /// A joinable queue holding at most `n` items.
    pub fn with_maxsize(n: usize) -> Result<JoinableQueue<T>> {
        QueueBuilder::new().maxsize(n).build_joinable()
    }

    /// Marks one item taken with `get` as done (Python's `task_done`). More
    /// calls than items put is [`Error::TooManyTaskDone`](crate::Error::TooManyTaskDone).
    pub fn task_done(&self) -> Result<()> {
        self.queue.shared.task_done()
    }

    /// Waits until every item put has been marked done (Python's `join`).
    ///
    /// [`shutdown(true)`](Queue::shutdown) counts the items it drops as
    /// done, so a join waiting only on queued items returns; items already
    /// taken still need their `task_done`.
    pub fn join(&self) -> Result<()> {
        self.queue.shared.join(&Deadline::never())
    }

    /// Like [`join`](JoinableQueue::join), giving up with
    /// [`Error::Timeout`](crate::Error::Timeout) after `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.queue.shared.join(&Deadline::after(timeout))
    }

    /// Items put but not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.queue.shared.unfinished() as usize
    }
}

impl<T: Serialize> JoinableQueue<T> {
    /// Puts an item and counts it as an unfinished task.
    pub fn put(&self, item: &T) -> Result<()> {
        self.queue.shared.put(item, &Deadline::never(), true)
    }

    /// Like [`put`](JoinableQueue::put), waiting at most `timeout`.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.queue.shared.put(item, &Deadline::after(timeout), true)
    }

    /// Puts an item only if there is room right now.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: &T) -> Result<()> {
        self.queue
            .shared
            .put(item, &Deadline::after(Duration::ZERO), true)
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    /// Everything else is a [`Queue`]'s (`get`, `qsize`, `close`, ...).
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> JoinableQueue<T> {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<JoinableQueue<T>, D::Error> {
        Queue::deserialize(deserializer).map(|queue| JoinableQueue { queue })
    }
}

/// A plain unbounded FIFO between processes (Python's `SimpleQueue`):
/// `put`, `get`, `is_empty`, `close`, plus the timeout forms.
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> SimpleQueue<T> {
    /// A new, empty queue.
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::new()?,
        })
    }

    /// Whether the queue holds no items (Python's `empty`).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Closes the queue in this process (see [`Queue::close`]).
    pub fn close(&self) {
        self.queue.close();
    }
}

impl<T: Serialize> SimpleQueue<T> {
    /// Puts an item.
    pub fn put(&self, item: &T) -> Result<()> {
        self.queue.put(item)
    }

    /// Puts an item, waiting at most `timeout` for room in the ring.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.queue.put_timeout(item, timeout)
    }
}

impl<T: DeserializeOwned> SimpleQueue<T> {
    /// Takes the oldest item, waiting until there is one.
    pub fn get(&self) -> Result<T> {
        self.queue.get()
    }

    /// Like [`get`](SimpleQueue::get), waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.queue.get_timeout(timeout)
    }

    /// Takes the oldest item without blocking the async executor (the
    /// `tokio` feature; see [`Queue::get_async`]).
    #[cfg(feature = "tokio")]
    pub async fn get_async(&self) -> Result<T> {
        self.queue.get_async().await
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> SimpleQueue<T> {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.queue).finish()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SimpleQueue<T>, D::Error> {
        Queue::deserialize(deserializer).map(|queue| SimpleQueue { queue })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_calls_that_need_not_wait_read_no_clock() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let q: Queue<u64> = QueueBuilder::new()
            .maxsize(4)
            .ring_size(1 << 16)
            .build()
            .unwrap();
        for i in 0..3u64 {
            let deadline = Deadline::after(Duration::from_secs(10));
            q.shared.put(&i, &deadline, false).unwrap();
            assert!(!deadline.started(), "put {i}");
        }
        for i in 0..3u64 {
            let deadline = Deadline::after(Duration::from_secs(10));
            assert_eq!(q.shared.get::<u64>(&deadline).unwrap(), i);
            assert!(!deadline.started(), "get {i}");
        }
        // Nothing there: a zero timeout still reads no clock; a real wait does.
        let now = Deadline::after(Duration::ZERO);
        assert!(matches!(
            q.shared.get::<u64>(&now),
            Err(crate::Error::Empty)
        ));
        assert!(!now.started());
        let soon = Deadline::after(Duration::from_millis(20));
        assert!(matches!(
            q.shared.get::<u64>(&soon),
            Err(crate::Error::Empty)
        ));
        assert!(soon.started() && soon.passed());
    }
}
