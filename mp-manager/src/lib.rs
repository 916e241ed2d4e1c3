//! Managers: a server process that holds shared objects, and typed proxies
//! that let other processes (on this host or another) use them — Python's
//! `multiprocessing.Manager()`, `SyncManager` and `BaseManager`.
//!
//! | Python | mp-manager |
//! |---|---|
//! | `with Manager() as m:` | [`let m = Manager::start()?`](Manager::start) (dropping it shuts the server down) |
//! | `m.list()`, `m.list(seq)` | [`m.list::<T>()`](Manager::list), [`m.list_from(seq)`](Manager::list_from) → [`ListProxy<T>`] |
//! | `m.dict()` | [`m.dict::<K, V>()`](Manager::dict) → [`DictProxy<K, V>`] |
//! | `m.Namespace()`; `ns.x = 1`; `ns.x` | [`m.namespace()`](Manager::namespace); [`ns.set("x", &1)`](Namespace::set); [`ns.get::<i32>("x")`](Namespace::get) |
//! | `m.Value('i', 0)`, `m.Array('d', seq)` | [`m.value(&0)`](Manager::value) → [`ValueProxy<T>`], [`m.array(seq)`](Manager::array) → [`ArrayProxy<T>`] |
//! | `m.Queue()`, `m.JoinableQueue()` | [`m.queue::<T>()`](Manager::queue) → [`QueueProxy<T>`], [`m.joinable_queue(0)`](Manager::joinable_queue) → [`JoinableQueueProxy<T>`] |
//! | `m.Lock()`, `RLock()`, `Semaphore(n)`, `Event()`, `Condition()`, `Barrier(n)` | [`LockProxy`], [`RLockProxy`], [`SemaphoreProxy`], [`EventProxy`], [`ConditionProxy`], [`BarrierProxy`] |
//! | `v.value += 1` (racy) | [`v.fetch_add(1)`](ValueProxy::fetch_add), [`update_with`](ValueProxy::update_with) (atomic) |
//! | `class M(BaseManager): pass; M.register("get_queue", callable=...)` | [`Registry`] + [`Registrar::register`], [`BaseManager::registry`] |
//! | `M(address=(host, port), authkey=k).start()` / `.connect()` / `.get_server().serve_forever()` | [`BaseManager`]`::new().address(..).authkey(..)` + [`start`](BaseManager::start) / [`connect`](BaseManager::connect) / [`serve_forever`](BaseManager::serve_forever) |
//! | `m.get_queue()`, `m.MyType(args)` | [`m.get::<QueueProxy<T>>("get_queue")`](Manager::get), [`m.get_with::<SharedProxy, _>("MyType", &args)`](Manager::get_with) |
//! | custom class with `exposed` methods | a type implementing [`Shared`], used through [`SharedProxy`] |
//! | `m.shutdown()` | [`m.shutdown()`](Manager::shutdown) |
//! | `m.start(initializer, initargs)` | [`BaseManager::initializer(f, args)`](BaseManager::initializer) + [`start`](BaseManager::start) ([`Error::Initializer`] if it panics) |
//! | `q.shutdown(immediate)` on `m.Queue()` (3.13), `queue.ShutDown` | [`QueueProxy::shutdown`], [`JoinableQueueProxy::shutdown`], [`Error::ShutDown`] |
//! | `for x in l`, `d.keys()`, `d.items()` (`IteratorProxy`) | [`l.iter()`](ListProxy::iter), [`d.iter()`](DictProxy::iter), [`iter_keys`](DictProxy::iter_keys), [`iter_values`](DictProxy::iter_values) → [`RemoteIter`] (a round trip per batch) |
//! | `method_to_typeid={'__iter__': 'Iterator'}` | [`Shared::iterators`] + [`Shared::iterate`], [`SharedProxy::iter`] |
//! | `SharedMemoryManager()`: `SharedMemory(size)`, `ShareableList(seq)` | [`SharedMemoryManager`]: [`shared_memory`](SharedMemoryManager::shared_memory), [`shareable_list`](SharedMemoryManager::shareable_list) |
//! | `EOFError`/`BrokenPipeError` after shutdown, `AuthenticationError`, `RemoteError` | [`Error::ManagerClosed`], [`Error::Authentication`], [`Error::Remote`] |
//!
//! # How it works
//!
//! [`Manager::start`] starts a server process (with any start method) that
//! listens on a private abstract Unix socket, or on TCP when asked, and
//! authenticates every client with HMAC-SHA256 (the key defaults to
//! `current_process().authkey()`, which children inherit). Each client
//! connection gets its own server thread, as in CPython, so a slow or
//! misbehaving client never blocks the others. A client on the same
//! machine (a Unix socket, no TLS) then moves its connection onto a
//! [`pipe`](mp_pipe::pipe) whose ends share memory, handed to the server
//! over the authenticated socket: a call is a hand-off through a ring
//! (about a microsecond while both sides are busy) instead of two socket
//! wake-ups, and a client that dies is still end of file for its server
//! thread. Requests and replies are serde enums; the server stores values as serde (postcard) bytes and
//! never needs the proxy's Rust type, and nothing executes code on receive.
//!
//! Proxies are `Send + Sync`, cheap to clone, and can be passed to child
//! processes as arguments under every start method, sent over a
//! `Connection`, or stored inside other manager objects (a list of dict
//! proxies stays live). The server counts references per client process,
//! like CPython's incref/decref, so an object lives while any proxy of it
//! exists in any process, and is freed soon after the last one goes
//! (including when a client process crashes).
//!
//! Details worth knowing:
//!
//! - The server is a daemon child: it never keeps its owner from exiting,
//!   and it dies with the owner (lifeline pipe and parent-death signal)
//!   even if the owner is killed. Only [`BaseManager::serve_forever`] runs a
//!   server that answers to nobody.
//! - Holds and locks of a client process are released about a second after
//!   its last connection closes (a short grace period, so a reconnecting
//!   client keeps them; an object whose last proxy is gone lingers as long).
//! - Under `Spawn` and `Forkserver` (the default), a proxy passed to a child
//!   keeps its object alive until the child has it, even if the parent drops
//!   its own proxy at once. Under `Fork` the child has a memory copy and
//!   takes its own hold on first use: if the parent dropped its last proxy
//!   of that object, the child must use it within that grace period.
//!
//! # Why every proxy method returns `Result`
//!
//! A local queue's `is_empty` (mp-queue's `Queue`, `SimpleQueue`) answers
//! `bool`; [`QueueProxy::is_empty`] answers `Result<bool>`. The
//! question is the same, and so is the answer when it arrives, but a
//! proxy's answer is a round trip to the server process, which can fail
//! in ways a local read cannot: the manager was shut down
//! ([`Error::ManagerClosed`]), its process died or the connection broke
//! ([`Error::Io`]), a remote server refused the key
//! ([`Error::Authentication`]), or the object is gone. mp reports those
//! instead of answering `false` for a manager that no longer exists, so
//! every proxy method, reads included, returns [`Result`]: `?` where a
//! local call has none. Local objects (`mp-queue`, `mp-shm`) keep the
//! plain types, and their fallible calls (a `get` that can time out) use
//! `Result` the same way.
//!
//! # Better than CPython
//!
//! - Reads return owned copies. In CPython, `d["k"]["x"] = 1` on a nested
//!   plain dict mutates a temporary copy and is silently lost; here a copy
//!   is visibly a copy (a `Vec`, a `HashMap`...), changes go back through
//!   the proxy, and nested proxies stay live.
//! - Read-modify-write does not race: `fetch_add` runs on the server, and
//!   `update_with` retries a closure until its result lands atomically.
//! - After [`Manager::shutdown`] every proxy call, in every process, fails
//!   at once with [`Error::ManagerClosed`]; a blocked `get` is woken with it
//!   too. Nothing hangs.
//! - A lock held by a client process that exits or crashes is released; a
//!   barrier whose waiter vanishes breaks instead of hanging the others.
//! - Bad input (garbage bytes, oversized frames, unknown object ids, values
//!   of the wrong type) is an error for the client that sent it; the server
//!   keeps serving everyone else.
//! - A remote server binds loopback unless told otherwise, refuses TCP
//!   without a key, and a wrong key is an authentication error on both
//!   sides.
//!
//! # Example
//!
//! The records program of the seed tutorial: a list in the manager,
//! appended to by one child and printed by another.
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(manager), "::{ListProxy, Manager};")]
#![doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
//!
//! type Record = (String, u32);
//!
//! fn insert_record(record: Record, records: ListProxy<Record>) {
//!     records.append(&record).unwrap();
//!     println!("New record added!");
//! }
//!
//! fn print_records(records: ListProxy<Record>) {
//!     for (name, score) in records.to_vec().unwrap() {
//!         println!("Name: {name}\nScore: {score}\n");
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = Manager::start()?;
//! let records = manager.list_from([("Sam".to_string(), 10), ("Adam".to_string(), 9)])?;
//!
//! let mut p1 = Process::new(insert_record, (("Jeff".to_string(), 8), records.clone()));
//! p1.start()?;
//! p1.join()?;
//! let mut p2 = Process::new(print_records, (records.clone(),));
//! p2.start()?;
//! p2.join()?;
//!
//! assert_eq!(records.len()?, 3);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_manager` in this
// crate's own docs, `mp::manager` where the facade renders them.
mp_internal::doc_crate_paths!();

mod client;
mod error;
mod factory;
mod initializer;
mod manager;
mod number;
mod object_ref;
mod proxy;
mod registry;
mod server;
mod shared_memory_manager;
mod wire;

pub use error::{Error, RemoteError, Result};
pub use manager::{BaseManager, DEFAULT_MAX_MESSAGE_SIZE, Manager, Server};
pub use number::{NumKindToken, Number};
pub use object_ref::Proxy;
pub use proxy::{
    ArrayProxy, BarrierProxy, ConditionProxy, DEFAULT_ITER_BATCH, DictProxy, EventProxy,
    JoinableQueueProxy, ListProxy, LockGuard, LockProxy, Namespace, QueueProxy, RLockProxy,
    RemoteIter, SemaphoreProxy, SharedProxy, ValueProxy,
};
pub use registry::{
    Registrar, Registry, ServerObject, Shared, SharedIter, decode_args, encode_result,
};
pub use server::adapter;
pub use shared_memory_manager::SharedMemoryManager;
pub use wire::{DebugInfo, ObjectKind};
