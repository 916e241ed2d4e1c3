//! mp: Python's `multiprocessing`, rebuilt in Rust.
//!
//! Real processes, real shared memory, real sockets, with the names Python
//! users look for. Each area is its own crate, re-exported here under a
//! short name (`mp::process`, `mp::queue`, ...), and the names a port needs
//! most are re-exported at the top.
//!
//! | Python | mp |
//! |---|---|
//! | `multiprocessing.Process`, `current_process`, `active_children`, `cpu_count` | [`Process`], [`current_process`], [`active_children`], [`cpu_count`] ([`process`]) |
//! | `log_to_stderr(level)`, `get_logger()` | [`log_to_stderr`], [`get_logger`]: mp's events through the [`log`] facade |
//! | `Pipe`, `connection.Listener/Client/wait` | [`pipe()`], [`Connection`], [`Listener`], [`Client`], [`wait`] ([`mod@pipe`]) |
//! | `Queue`, `SimpleQueue`, `JoinableQueue` | [`Queue`], [`SimpleQueue`], [`JoinableQueue`] ([`queue`]) |
//! | `Value`, `Array`, `Lock`, `RLock`, `Semaphore`, `Condition`, `Event`, `Barrier`, `shared_memory` | [`Value`], [`Array`], [`Lock`], ... ([`shm`]) |
//! | `Pool`, `AsyncResult`, `pool.ThreadPool` | [`Pool`], [`AsyncResult`], [`ThreadPool`] ([`pool`]) |
//! | `Manager`, `BaseManager`, `SharedMemoryManager`, the proxies | [`Manager`], [`BaseManager`], [`SharedMemoryManager`], [`ListProxy`], [`DictProxy`], [`QueueProxy`], [`SharedProxy`], ... ([`manager`]) |
//! | Celery/RQ-style `Queue` and `Pool` across hosts | `mp::redis` (cargo feature `redis`) |
//! | CPython's wire: Python's `Listener`/`Client`, managers, pickle as data | `mp::python` (cargo feature `python`) |
//! | asyncio: `await` a pool's result, `async for` over results, await a receive or a queue's get | `pool.apply_async(f, args)?.await` (any runtime), `imap(..)?.next_async().await` (`Stream`s with cargo feature `stream`), `conn.recv_async::<T>().await`, `q.get_async().await` (cargo feature `tokio`) |
//!
//! Local objects and manager proxies ask the same questions with the same
//! names ([`SimpleQueue::is_empty`] and [`QueueProxy::is_empty`]). A proxy's answer is a round trip
//! to the manager's process, which can be shut down, dead or unreachable, so
//! every proxy method returns a `Result` (a local `is_empty` is a plain
//! `bool`): see [why](manager#why-every-proxy-method-returns-result).
//!
//! # Sending your own types
//!
//! Arguments, messages and queue items are serde values. Structs of your
//! own need serde's derives, so a port's `Cargo.toml` has two lines:
//!
//! ```toml
//! [dependencies]
//! mp = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! Without the `serde` line, mp's own re-export does the same, with one
//! attribute that tells the derive where serde is:
//!
//! ```
//! #[derive(mp::Serialize, mp::Deserialize, Debug, PartialEq)]
//! #[serde(crate = "mp::serde")]
//! struct Point {
//!     x: i32,
//!     y: i32,
//! }
//! # let (a, b) = mp::pipe().unwrap();
//! # a.send(&Point { x: 1, y: 2 }).unwrap();
//! # assert_eq!(b.recv::<Point>().unwrap(), Point { x: 1, y: 2 });
//! ```
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Record {
//!     name: String,
//!     score: u32,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (a, b) = mp::pipe()?;
//! a.send(&Record { name: "Ada".into(), score: 10 })?;
//! assert_eq!(b.recv::<Record>()?, Record { name: "Ada".into(), score: 10 });
//! # Ok(())
//! # }
//! ```
//!
//! # Example
//!
//! The tutorials' shared counter, done right: two processes add 100 each
//! under the value's lock, and the parent sees 200.
//!
//! ```
//! use mp::{Process, Value};
//!
//! fn add_100(number: Value<i32>) {
//!     for _ in 0..100 {
//!         *number.lock().unwrap() += 1;
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let shared_number = Value::new(0)?;
//! let mut p1 = Process::new(add_100, (shared_number.clone(),));
//! let mut p2 = Process::new(add_100, (shared_number.clone(),));
//! p1.start()?;
//! p2.start()?;
//! p1.join()?;
//! p2.join()?;
//! assert_eq!(*shared_number.lock().unwrap(), 200);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
// Only for tests/doc_examples.rs: every rendered example gets a link holding
// its full code (hidden lines included), which the test compiles.
#![cfg_attr(mp_doc_examples, doc(html_playground_url = "https://play.invalid/"))]
#![forbid(unsafe_code)]

#[doc(inline)]
pub use mp_handle as handle;
#[doc(inline)]
pub use mp_manager as manager;
#[doc(inline)]
pub use mp_pipe as pipe;
#[doc(inline)]
pub use mp_pool as pool;
#[doc(inline)]
pub use mp_process as process;
/// CPython's wire: connections and managers shared with Python processes,
/// pickle as data only (the `python` feature).
#[cfg(feature = "python")]
#[doc(inline)]
pub use mp_python as python;
#[doc(inline)]
pub use mp_queue as queue;
/// Queue and Pool across hosts on Redis Streams (the `redis` feature).
#[cfg(feature = "redis")]
#[doc(inline)]
pub use mp_redis as redis;
#[doc(inline)]
pub use mp_shm as shm;

/// serde, the data model of everything that crosses a process boundary.
pub use serde;
/// serde's traits and derives (`#[derive(mp::Serialize)]` with
/// `#[serde(crate = "mp::serde")]`; see the crate docs).
pub use serde::{Deserialize, Serialize};

#[doc(inline)]
pub use mp_manager::{
    ArrayProxy, BarrierProxy, BaseManager, ConditionProxy, DictProxy, EventProxy,
    JoinableQueueProxy, ListProxy, LockProxy, Manager, Namespace, QueueProxy, RLockProxy,
    RemoteIter, SemaphoreProxy, SharedMemoryManager, SharedProxy, ValueProxy,
};
#[doc(inline)]
pub use mp_pipe::{Client, Connection, Listener, pipe, pipe_simplex, wait};
#[doc(inline)]
pub use mp_pool::{AsyncResult, Pool, ThreadPool};
/// The logging facade mp reports its events through (`mp::log::LevelFilter`
/// for [`log_to_stderr`]).
pub use mp_process::log;
#[doc(inline)]
pub use mp_process::{
    Args, Context, JoinHandle, Process, Run, StartMethod, Target, active_children, cpu_count,
    current_process, get_context, get_logger, get_start_method, log_to_stderr, parent_process,
    set_executable, set_start_method, spawn,
};
#[doc(inline)]
pub use mp_queue::{JoinableQueue, Queue, SimpleQueue};
#[doc(inline)]
pub use mp_shm::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, RawArray, RawValue, Semaphore,
    ShareableList, SharedMemory, Value,
};
