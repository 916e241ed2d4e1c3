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
//! | `Pipe`, `connection.Listener/Client/wait` | [`pipe`], [`Connection`], [`Listener`], [`Client`], [`wait`] ([`mod@pipe`]) |
//! | `Queue`, `SimpleQueue`, `JoinableQueue` | [`Queue`], [`SimpleQueue`], [`JoinableQueue`] ([`queue`]) |
//! | `Value`, `Array`, `Lock`, `RLock`, `Semaphore`, `Condition`, `Event`, `Barrier`, `shared_memory` | [`Value`], [`Array`], [`Lock`], ... ([`shm`]) |
//! | `Pool` | [`pool`] |
//! | `Manager`, `BaseManager` | [`Manager`], [`BaseManager`] ([`manager`]) |
//! | Celery/RQ-style `Queue` and `Pool` across hosts | `mp::redis` (cargo feature `redis`) |
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
#[doc(inline)]
pub use mp_queue as queue;
/// Queue and Pool across hosts on Redis Streams (the `redis` feature).
#[cfg(feature = "redis")]
#[doc(inline)]
pub use mp_redis as redis;
#[doc(inline)]
pub use mp_shm as shm;

#[doc(inline)]
pub use mp_manager::{BaseManager, Manager};
#[doc(inline)]
pub use mp_pipe::{Client, Connection, Listener, pipe, pipe_simplex, wait};
#[doc(inline)]
pub use mp_process::{
    Context, JoinHandle, Process, Run, StartMethod, active_children, cpu_count, current_process,
    get_context, get_start_method, parent_process, set_start_method, spawn,
};
#[doc(inline)]
pub use mp_queue::{JoinableQueue, Queue, SimpleQueue};
#[doc(inline)]
pub use mp_shm::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, RawArray, RawValue, Semaphore,
    ShareableList, SharedMemory, Value,
};
