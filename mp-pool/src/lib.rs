//! A process pool: Python's `multiprocessing.Pool` for Rust, fast, and
//! robust where CPython's hangs.
//!
//! | Python | mp-pool |
//! |---|---|
//! | `Pool()`, `Pool(4)` | [`Pool::new(None)`](Pool::new), [`Pool::new(4)`](Pool::new) |
//! | `Pool(processes, initializer, initargs, maxtasksperchild)` | [`Pool::builder()`](Pool::builder)`.processes(n).initializer(f, args).maxtasksperchild(k).build()` ([`PoolBuilder`]) |
//! | `get_context("spawn").Pool()` | [`PoolBuilder::start_method`] |
//! | `apply(f, args)`, `apply_async(f, args, callback, error_callback)` | [`apply`](Pool::apply), [`apply_async`](Pool::apply_async), [`apply_async_with`](Pool::apply_async_with) + [`Callbacks`] |
//! | `map(f, xs, chunksize)`, `map_async(...)` | [`map`](Pool::map), [`map_chunked`](Pool::map_chunked), [`map_async`](Pool::map_async), [`map_async_with`](Pool::map_async_with) |
//! | `starmap(f, [(a, b)])`, `starmap_async(...)` | [`starmap`](Pool::starmap), [`starmap_chunked`](Pool::starmap_chunked), [`starmap_async`](Pool::starmap_async), [`starmap_async_with`](Pool::starmap_async_with) |
//! | `imap(f, xs, chunksize)`, `imap_unordered(...)` | [`imap`](Pool::imap), [`imap_chunked`](Pool::imap_chunked), [`imap_unordered`](Pool::imap_unordered), [`imap_unordered_chunked`](Pool::imap_unordered_chunked) → [`IMap`] (also awaited: [`IMap::next_async`]; a `Stream` with the `stream` feature) |
//! | `AsyncResult.get(timeout)`, `wait(timeout)`, `ready()`, `successful()`; `await asyncio.wrap_future(f)` | [`AsyncResult::get`], [`get_timeout`](AsyncResult::get_timeout), [`wait`](AsyncResult::wait), [`wait_timeout`](AsyncResult::wait_timeout), [`ready`](AsyncResult::ready), [`successful`](AsyncResult::successful), `.await` ([`AsyncResultFuture`], any runtime) |
//! | `close()`, `terminate()`, `join()`, `with Pool() as p:` | [`close`](Pool::close), [`terminate`](Pool::terminate), [`join`](Pool::join), [`join_timeout`](Pool::join_timeout), `Drop` |
//! | the task's exception, `TimeoutError`, `ValueError`, `KeyboardInterrupt` | [`Error`] |
//! | `multiprocessing.pool.ThreadPool(processes, initializer, initargs)` | [`ThreadPool::new`], [`ThreadPool::builder`] ([`ThreadPoolBuilder`]): the same API on threads, with closures and any values |
//!
//! Functions are plain `fn` items or closures that capture nothing, with
//! serde arguments and results: workers receive an authenticated reference
//! to code already in the binary (a [`RemoteFn`](mp_process::RemoteFn)),
//! never code, and no pickle. Arguments and results are plain data: they
//! cannot carry OS handles (queues, connections, shared values) — give
//! those to a [`Process`](mp_process::Process).
//!
//! # Better than CPython
//!
//! - **A worker that dies never hangs the pool.** A worker killed by a
//!   signal, that aborts, segfaults or calls `exit(3)` while running a task
//!   fails exactly the task(s) it was running with [`Error::WorkerLost`]
//!   (its exit code, or minus the signal), within about a second; the
//!   tasks it had queued but not started run elsewhere, and the worker is
//!   replaced. CPython's pool waits forever.
//! - **Per-task errors.** A panic in a task, or an argument or result that
//!   fails to (de)serialize, is that task's error ([`Error::Panicked`] with
//!   the message, [`Error::Encode`], [`Error::Decode`]); no worker is lost.
//!   (A panicking worker also prints the panic to its stderr, as a thread
//!   does.)
//!   `map`'s error is that of the lowest failing index, deterministically.
//! - **Lazy `imap`.** [`imap`](Pool::imap) and
//!   [`imap_unordered`](Pool::imap_unordered) take items only to keep a
//!   bounded window in flight: they work on endless iterators.
//! - **Prompt shutdown.** [`terminate`](Pool::terminate) returns at once
//!   even with thousands of long tasks queued, failing them with
//!   [`Error::Terminated`]; dropping a pool terminates it and reaps every
//!   worker; every blocking call has a `_timeout` form; Ctrl-C during a
//!   blocking call is [`Error::Interrupted`] and leaves no worker behind.
//! - **Fast.** Chunks travel on shared-memory rings (one task ring per
//!   worker, one result ring), pipelined so workers never wait for the
//!   next chunk. A thread blocked in `apply`, `map` or
//!   [`AsyncResult::get`] takes results off the ring itself, so its result
//!   comes straight from the worker, without a hop through the pool's
//!   result thread.
//!
//! # Example
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(pool), "::Pool;")]
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
#![doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.map(square, 0..10u64)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! assert_eq!(pool.apply(square, (7,))?, 49);
//! let first: Vec<u64> = pool.imap(square, 0u64..)?.take(3).collect::<Result<_, _>>()?;
//! assert_eq!(first, [0, 1, 4]);
//! pool.close();
//! pool.join()?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_pool` in this
// crate's own docs, `mp::pool` where the facade renders them.
mp_internal::doc_crate_paths!();

mod arrivals;
mod error;
mod frames;
mod imap;
mod interrupt;
mod pool;
mod pool_builder;
mod result;
mod scheduler;
mod thread_pool;
mod wire;
mod worker;

pub use error::{Error, Result};
pub use imap::IMap;
pub use pool::Pool;
pub use pool_builder::{DEFAULT_RING_SIZE, PoolBuilder};
pub use result::{AsyncResult, AsyncResultFuture, Callbacks};
pub use thread_pool::{Call, ThreadIMap, ThreadPool, ThreadPoolBuilder};
