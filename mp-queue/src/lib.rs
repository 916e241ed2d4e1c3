//! Queues between processes: Python's `multiprocessing.Queue`,
//! `SimpleQueue` and `JoinableQueue`, on a shared-memory ring.
//!
//! | Python | mp-queue |
//! |---|---|
//! | `Queue()`, `Queue(maxsize)` | [`Queue::new()`](Queue::new), [`Queue::with_maxsize(n)`](Queue::with_maxsize), [`QueueBuilder`] |
//! | `q.put(x)`, `q.put(x, timeout=t)`, `q.put_nowait(x)` | [`q.put(&x)`](Queue::put), [`put_timeout`](Queue::put_timeout), [`try_put`](Queue::try_put) |
//! | `q.get()`, `q.get(timeout=t)`, `q.get_nowait()` | [`q.get()`](Queue::get), [`get_timeout`](Queue::get_timeout), [`try_get`](Queue::try_get) |
//! | `queue.Full`, `queue.Empty` | [`Error::Full`], [`Error::Empty`] |
//! | `q.qsize()`, `q.empty()`, `q.full()`, `q.close()` | [`qsize`](Queue::qsize), [`is_empty`](Queue::is_empty), [`is_full`](Queue::is_full), [`close`](Queue::close) |
//! | `q.shutdown(immediate=False)`, `queue.ShutDown` (3.13) | [`q.shutdown(immediate)`](Queue::shutdown), [`is_shut_down`](Queue::is_shut_down), [`Error::ShutDown`] |
//! | `JoinableQueue`: `task_done()`, `join()` | [`JoinableQueue`]: [`task_done`](JoinableQueue::task_done), [`join`](JoinableQueue::join), [`join_timeout`](JoinableQueue::join_timeout) |
//! | `SimpleQueue`: `put`, `get`, `empty`, `close` | [`SimpleQueue`] |
//! | (no Python equivalent) an awaited `get`, feature `tokio` | `q.get_async().await` (`Queue::get_async`) |
//!
//! # How it works
//!
//! A queue is one shared memory segment (a memfd: nothing in `/dev/shm`,
//! nothing to leak): a page of counters and a byte ring, mapped twice back
//! to back so every message is contiguous. `put` serializes the item
//! straight into the ring and publishes it by moving the ring's tail; `get`
//! deserializes straight out of it and moves the head. A process that has
//! to wait spins for a few microseconds (a busy peer answers in
//! nanoseconds), then sleeps on a futex that the other side only wakes
//! when someone sleeps. Producers take turns through one process-shared
//! robust lock, consumers through another; a thread that takes every turn
//! on its side keeps the lock between turns and pays no atomic
//! read-modify-write at all, until another thread wants a turn.
//!
//! # What is shared, and with whom
//!
//! Every handle of a queue, in every process, maps the same memfd, and a
//! handle passed to a child (or encoded with `mp_handle::encode`) carries
//! a duplicate of its descriptor, which any process of the same user can
//! also reopen through `/proc/<pid>/fd`. The memfd's size is sealed: no
//! holder can shrink it under the mappings (the next `get` would die of
//! SIGBUS) or grow it, and a handle whose memory is not sealed so is
//! refused. Its bytes cannot be sealed, as producers and consumers write
//! them concurrently by design: what this crate promises (no undefined
//! behaviour, items delivered whole and once) holds for every sequence of
//! calls to its API from any number of threads and processes, while bytes
//! written into the memfd by other means (`write(2)` on the descriptor)
//! are outside it, as writes to `/proc/self/mem` are outside Rust's.
//!
//! # Better than CPython
//!
//! - **No feeder thread.** `put` returns once the item is in shared memory:
//!   a serialization error reaches the caller, an item is never lost when
//!   the process exits right after `put`, and joining a producer that put
//!   more than anyone has taken does not deadlock (up to the ring's size,
//!   16 MiB by default, instead of a 64 KiB pipe).
//! - **Any message size.** A message larger than the ring streams through
//!   it while a consumer takes it; other producers wait their turn. A put
//!   that times out (or fails to encode) part way through leaves the queue
//!   as if it had not been called: consumers drop what it sent, and no
//!   message counts as torn.
//! - **Crashes lose only the message in flight.** A producer or consumer
//!   killed in the middle of a `put` or `get` leaves the queue consistent:
//!   that message is dropped and reported ([`Error::Torn`] for the consumer
//!   that meets its remains, and [`Queue::torn`]), and everything else is
//!   delivered exactly once.
//! - **No pickle.** Items are serde values; nothing runs code on receive.
//! - **Awaitable.** With the `tokio` feature, `Queue::get_async` awaits an
//!   item on tokio's reactor (the queue's eventfd doorbell, rung only while
//!   someone awaits), so a service on an async executor takes work from
//!   other processes without a thread per wait.
//!
//! # Example
//!
//! The tutorial's `square_list` / `print_queue`:
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
#![doc = concat!("use ", crate::mp_crate!(queue), "::Queue;")]
//!
//! fn square_list(numbers: Vec<u32>, q: Queue<u32>) {
//!     for n in numbers {
//!         q.put(&(n * n)).unwrap();
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let q = Queue::new()?;
//! let mut p = Process::new(square_list, (vec![1, 2, 3, 4], q.clone()));
//! p.start()?;
//! p.join()?;
//! let mut squares = Vec::new();
//! while !q.is_empty() {
//!     squares.push(q.get()?);
//! }
//! assert_eq!(squares, [1, 4, 9, 16]);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_queue` in this
// crate's own docs, `mp::queue` where the facade renders them.
mp_internal::doc_crate_paths!();

mod chunk;
mod doorbell;
mod error;
mod header;
mod queue;
mod ring_queue;
mod sys;
#[cfg(feature = "tokio")]
mod sys_reactor;
mod turn;
mod wait;

pub use error::{Error, Result};
pub use queue::{
    DEFAULT_RING_SIZE, JoinableQueue, MAX_RING_SIZE, Queue, QueueBuilder, SimpleQueue,
};
