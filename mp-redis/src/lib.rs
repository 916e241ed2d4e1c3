//! mp's `Queue` and `Pool` beyond one machine, on Redis Streams: the same
//! names and semantics as mp-queue and mp-pool, with producers, consumers
//! and workers in any number of processes on any number of hosts.
//!
//! | Python / mp | mp-redis |
//! |---|---|
//! | `Queue(maxsize)`, `JoinableQueue` | [`Queue::open(url, name)`](Queue::open), [`Queue::with_maxsize`], [`JoinableQueue`], [`QueueBuilder`] |
//! | `put`, `put(timeout=)`, `put_nowait` | [`put`](Queue::put), [`put_timeout`](Queue::put_timeout), [`try_put`](Queue::try_put) |
//! | `get`, `get(timeout=)`, `get_nowait` | [`get`](Queue::get), [`get_timeout`](Queue::get_timeout), [`try_get`](Queue::try_get) |
//! | (a receive acknowledged after the work) | [`get_tracked`](Queue::get_tracked) → [`Delivery`], [`Delivery::done`] |
//! | `qsize`, `empty`, `full`, `close`, `task_done`, `join` | [`qsize`](Queue::qsize), [`is_empty`](Queue::is_empty), [`is_full`](Queue::is_full), [`close`](Queue::close), [`task_done`](JoinableQueue::task_done), [`join`](JoinableQueue::join) |
//! | `Pool(n)` | [`Pool::builder(url)`](Pool::builder)`.processes(n).build()`, remote workers: [`serve`] / [`Worker`] |
//! | `map`, `imap`, `imap_unordered`, `starmap`, `apply_async`, chunksize | same names ([`Pool`]); [`AsyncResult`], [`IMap`] |
//! | `close`, `join`, `terminate` | same names |
//!
//! # How it works
//!
//! A queue is a Redis stream with one consumer group; a pool is a stream
//! of tasks read by its workers' group, and a result stream per caller.
//! Nothing here invents a cluster protocol: delivery, acknowledgement,
//! the pending-entries list and `XAUTOCLAIM` are Redis's own. An entry
//! received in tracked form (every pool task is) is acknowledged only
//! when its work is done; a consumer renews its claim with a heartbeat
//! while it works, and an entry whose consumer stops renewing (SIGKILL,
//! host lost) is reclaimed by another after the visibility timeout. An
//! entry delivered `max_deliveries` times without an acknowledgement goes
//! to a dead-letter stream (a pool task fails with
//! [`Error::WorkerLost`]) instead of being retried forever.
//!
//! Items, arguments and results are serde values (postcard), never code.
//! A pool's functions are named by [`register!`] and a task carries the
//! caller's build fingerprint ([`build_fingerprint`]): a worker runs only
//! functions registered in its own build, and refuses a task from another
//! build with [`Error::WrongBuild`].
//!
//! Every Redis call has a connect and read timeout; blocking reads wait in
//! slices, so a timeout or `close` is noticed, and a call made while Redis
//! is down fails with [`Error::Unavailable`] instead of hanging; the next
//! call reconnects. Credentials (`redis://user:pass@host`) and TLS
//! (`rediss://`, with the `tls` feature) come from the URL.
//!
//! # Example
//!
//! ```no_run
#![doc = concat!("use ", crate::mp_crate!(redis), "::{Pool, Queue};")]
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
#![doc = concat!(crate::mp_crate!(redis), "::register!(square);")]
//!
#![doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(redis), "::Error> {")]
//! let url = "redis://127.0.0.1/";
//! let q: Queue<String> = Queue::open(url, "greetings")?;
//! q.put(&"hello".to_string())?;
//! assert_eq!(q.get()?, "hello");
//!
#![doc = concat!("// Two local workers; `", crate::mp_crate!(redis), "::serve(url)` on other hosts adds more.")]
//! let pool = Pool::builder(url).processes(2).build()?;
//! assert_eq!(pool.map(square, 0..5u64)?, [0, 1, 4, 9, 16]);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_redis` in this
// crate's own docs, `mp::redis` where the facade renders them.
mp_internal::doc_crate_paths!();

mod caller;
mod claims;
mod delivery;
mod error;
mod fingerprint;
mod imap;
mod joinable;
mod link;
mod pool;
mod queue;
mod registry;
mod result;
mod server;
mod settings;
mod stream;
mod task;
mod worker;

pub use delivery::{DeadLetter, Delivery};
pub use error::{Error, Result};
pub use fingerprint::build_fingerprint;
pub use imap::IMap;
pub use joinable::JoinableQueue;
pub use pool::{DEFAULT_IMAP_WINDOW, Pool, PoolBuilder};
pub use queue::{Queue, QueueBuilder};
pub use result::AsyncResult;
pub use server::{RedisServer, RedisServerBuilder};
pub use settings::{DEFAULT_MAX_DELIVERIES, DEFAULT_VISIBILITY_TIMEOUT};
pub use task::DEFAULT_POOL_NAME;
pub use worker::{Worker, serve};

/// What `register!` expands to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{Described, FUNCTIONS, Registration, describe};
    pub use linkme;
}

/// 64 random bits from the kernel (consumer names, caller ids).
pub(crate) fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("getrandom failed: {e}"),
        }
    }
    u64::from_le_bytes(buf)
}
