//! `Pool` and `PoolBuilder`: mp-pool's API with workers on any host.

use std::borrow::Borrow;
use std::fmt;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mp_process::{Args, StartMethod, Target};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::caller::{Chunk, Shared};
use crate::error::{Error, Result};
use crate::imap::{Feed, IMap};
use crate::registry;
use crate::result::{AsyncResult, Cell, Collect, Route, Sink};
use crate::settings::Settings;
use crate::task::DEFAULT_POOL_NAME;

/// Chunks `imap` keeps in flight unless set with [`PoolBuilder::imap_window`].
pub const DEFAULT_IMAP_WINDOW: usize = 64;

/// How long dropping a pool waits for its local workers to be reaped.
const DROP_JOIN: Duration = Duration::from_secs(10);

/// Settings for a new [`Pool`].
///
/// ```no_run
/// use std::time::Duration;
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(redis), "::Error> {")]
#[doc = concat!("let pool = ", crate::mp_crate!(redis), "::Pool::builder(\"redis://127.0.0.1/\")")]
///     .name("jobs")
///     .processes(2)
///     .visibility_timeout(Duration::from_secs(10))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PoolBuilder {
    settings: Settings,
    processes: usize,
    method: Option<StartMethod>,
    window: usize,
}

impl PoolBuilder {
    /// A pool on the Redis at `url`, named [`DEFAULT_POOL_NAME`], with no
    /// local workers (workers elsewhere run [`serve`](crate::serve)).
    pub fn new(url: &str) -> PoolBuilder {
        PoolBuilder {
            settings: Settings::new(url, DEFAULT_POOL_NAME),
            processes: 0,
            method: None,
            window: DEFAULT_IMAP_WINDOW,
        }
    }

    /// The pool's name (the prefix of its keys); workers serve a name.
    pub fn name(mut self, name: &str) -> PoolBuilder {
        self.settings.name = name.to_owned();
        self
    }

    /// Starts `n` local worker processes (mp processes of this program,
    /// replaced if they die, stopped with the pool), beside any workers
    /// elsewhere.
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = n;
        self
    }

    /// Starts local workers with `method` instead of mp's default.
    pub fn start_method(mut self, method: StartMethod) -> PoolBuilder {
        self.method = Some(method);
        self
    }

    /// How long a task may go without its worker's heartbeat before another
    /// worker takes it (default [`DEFAULT_VISIBILITY_TIMEOUT`](crate::DEFAULT_VISIBILITY_TIMEOUT)).
    /// A worker renews its claim every third of it while a task runs, so
    /// long tasks are not taken from live workers. Local workers that die
    /// are noticed at once, without waiting for it.
    pub fn visibility_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.settings.visibility = timeout;
        self
    }

    /// How many workers may take a task and die before it fails with
    /// [`Error::WorkerLost`] (default [`DEFAULT_MAX_DELIVERIES`](crate::DEFAULT_MAX_DELIVERIES)).
    pub fn max_deliveries(mut self, n: u32) -> PoolBuilder {
        self.settings.max_deliveries = n;
        self
    }

    /// How long to wait for a connection to Redis (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.settings.timeouts.connect = timeout;
        self
    }

    /// How long to wait for Redis to answer a command (default 5 s).
    pub fn io_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.settings.timeouts.io = timeout;
        self
    }

    /// Trusts `pem` (a PEM root certificate) for a `rediss://` URL instead
    /// of the system's roots (needs the `tls` feature); local workers trust
    /// it too.
    pub fn tls_root_cert(mut self, pem: &[u8]) -> PoolBuilder {
        self.settings.tls_root = Some(pem.to_vec());
        self
    }

    /// How many chunks `imap` and `imap_unordered` keep in flight.
    pub fn imap_window(mut self, chunks: usize) -> PoolBuilder {
        self.window = chunks.max(1);
        self
    }

    /// Connects, and starts the local workers and the result thread.
    pub fn build(self) -> Result<Pool> {
        let (shared, thread) = Shared::start(self.settings, self.processes, self.method)?;
        Ok(Pool {
            shared,
            thread: Mutex::new(Some(thread)),
            window: self.window,
        })
    }
}

/// A pool of workers on any number of hosts, fed through Redis Streams:
/// mp-pool's `map`, `imap`, `apply_async`, ... where a worker is any
/// process of the same build running [`serve`](crate::serve) (or a local
/// worker the pool starts).
///
/// Functions must be registered with [`register!`](crate::register).
/// Execution is at-least-once (a task whose worker died runs again
/// elsewhere) and each task's result is seen exactly once.
///
/// ```no_run
/// fn square(x: u64) -> u64 {
///     x * x
/// }
#[doc = concat!(crate::mp_crate!(redis), "::register!(square);")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(redis), "::Error> {")]
#[doc = concat!("let pool = ", crate::mp_crate!(redis), "::Pool::builder(\"redis://127.0.0.1/\").processes(2).build()?;")]
/// assert_eq!(pool.map(square, 0..4u64)?, [0, 1, 4, 9]);
/// assert_eq!(pool.apply(square, (7,))?, 49);
/// pool.close();
/// pool.join()?;
/// # Ok(())
/// # }
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    window: usize,
}

fn only<R>(mut values: Vec<R>) -> R {
    values.pop().expect("one value")
}

fn all<R>(values: Vec<R>) -> Vec<R> {
    values
}

fn check_chunksize(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidSetting("chunksize must be at least 1".into()));
    }
    Ok(())
}

/// Encodes a chunk of arguments as the `Vec` of argument tuples a
/// registered function decodes (a 1-tuple encodes as its element).
/// Why an OS handle in a task's arguments is refused, and what to do.
const HANDLE_IN_A_TASK: &str = "an mp Queue, Connection, Lock, Value or other OS handle \
    cannot travel in a task: the task may run in a process on another host. Send the data \
    itself, or use an mp_redis::Queue (a name on the Redis server), which any task can take";

fn encode_chunk<A: Serialize>(items: &[&A]) -> Result<Vec<u8>> {
    let (encoded, refused) = mp_handle::refused_handles(|| postcard::to_allocvec(items));
    encoded.map_err(|e| {
        Error::Encode(if refused {
            HANDLE_IN_A_TASK.to_owned()
        } else {
            e.to_string()
        })
    })
}

impl Pool {
    /// A pool on the Redis at `url` with the default name and no local
    /// workers.
    pub fn connect(url: &str) -> Result<Pool> {
        PoolBuilder::new(url).build()
    }

    /// Settings beyond the URL.
    pub fn builder(url: &str) -> PoolBuilder {
        PoolBuilder::new(url)
    }

    /// The number of local workers the pool keeps.
    #[doc(alias = "_processes")]
    pub fn processes(&self) -> usize {
        self.shared.processes()
    }

    /// The process ids of the local workers alive now.
    pub fn pids(&self) -> Vec<u32> {
        self.shared.pids()
    }

    /// Results that arrived more than once (a task run again after its
    /// worker was thought lost) and were dropped.
    pub fn duplicate_results(&self) -> u64 {
        self.shared.duplicates()
    }

    // ----- apply -------------------------------------------------------------

    /// Calls `f(args...)` in a worker and waits for its value (Python's `apply`).
    pub fn apply<F, A, R>(&self, f: F, args: A) -> Result<R>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// Calls `f(args...)` in a worker (Python's `apply_async`).
    pub fn apply_async<F, A, R>(&self, f: F, args: A) -> Result<AsyncResult<R>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = f;
        let function = registry::name_of::<F>()?;
        self.run_job::<A, R, R, _>(function, std::iter::once(args), 1, only, 1)
    }

    // ----- map ---------------------------------------------------------------

    /// Calls `f(item)` for every item in the workers and returns the values
    /// in order (Python's `map`), in chunks of about a quarter of the items
    /// per worker. The error is that of the lowest failing item.
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.map_async_with(f, items, None)?.get()
    }

    /// [`map`](Pool::map) with `chunksize` items per task.
    #[doc(alias = "chunksize")]
    pub fn map_chunked<F, A, R, I>(&self, f: F, items: I, chunksize: usize) -> Result<Vec<R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.map_async_with(f, items, Some(chunksize))?.get()
    }

    /// [`map`](Pool::map) without waiting (Python's `map_async`).
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.map_async_with(f, items, None)
    }

    /// [`map_async`](Pool::map_async) with a chunksize (`None`: the default).
    pub fn map_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let _ = f;
        let function = registry::name_of::<F>()?;
        self.run_sized::<A, R, _>(function, items, chunksize)
    }

    // ----- starmap -----------------------------------------------------------

    /// Calls `f(a, b, ...)` for every argument tuple (Python's `starmap`).
    pub fn starmap<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.starmap_async_with(f, items, None)?.get()
    }

    /// [`starmap`](Pool::starmap) with `chunksize` tuples per task.
    #[doc(alias = "chunksize")]
    pub fn starmap_chunked<F, A, R, I>(&self, f: F, items: I, chunksize: usize) -> Result<Vec<R>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.starmap_async_with(f, items, Some(chunksize))?.get()
    }

    /// [`starmap`](Pool::starmap) without waiting (Python's `starmap_async`).
    pub fn starmap_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.starmap_async_with(f, items, None)
    }

    /// [`starmap_async`](Pool::starmap_async) with a chunksize (`None`: the default).
    pub fn starmap_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let _ = f;
        let function = registry::name_of::<F>()?;
        self.run_sized::<A, R, _>(function, items, chunksize)
    }

    // ----- imap --------------------------------------------------------------

    /// A lazy [`map`](Pool::map): an iterator of each item's value (or
    /// error) in order (Python's `imap`, chunksize 1).
    pub fn imap<'a, F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'a, R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator + 'a,
        I::Item: Borrow<A>,
    {
        self.imap_chunked(f, items, 1)
    }

    /// [`imap`](Pool::imap) with `chunksize` items per task.
    #[doc(alias = "chunksize")]
    pub fn imap_chunked<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<'a, R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator + 'a,
        I::Item: Borrow<A>,
    {
        self.lazy::<F, A, R, I>(f, items, chunksize, true)
    }

    /// Like [`imap`](Pool::imap), yielding results as they come (Python's
    /// `imap_unordered`).
    pub fn imap_unordered<'a, F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'a, R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator + 'a,
        I::Item: Borrow<A>,
    {
        self.imap_unordered_chunked(f, items, 1)
    }

    /// [`imap_unordered`](Pool::imap_unordered) with `chunksize` items per task.
    #[doc(alias = "chunksize")]
    pub fn imap_unordered_chunked<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<'a, R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator + 'a,
        I::Item: Borrow<A>,
    {
        self.lazy::<F, A, R, I>(f, items, chunksize, false)
    }

    // ----- lifetime ----------------------------------------------------------

    /// Takes no more tasks (Python's `close()`); `join` then waits for the
    /// tasks already given.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Fails every unfinished task with [`Error::Terminated`], withdraws
    /// the tasks not yet taken, and kills the local workers (Python's
    /// `terminate()`).
    pub fn terminate(&self) {
        self.shared.terminate();
    }

    /// Waits for the tasks given to finish, then stops the local workers
    /// (Python's `join()`); only after [`close`](Pool::close) or
    /// [`terminate`](Pool::terminate), else [`Error::StillRunning`].
    pub fn join(&self) -> Result<()> {
        self.join_until(None)
    }

    /// Like [`join`](Pool::join), giving up with [`Error::Timeout`] after
    /// `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.join_until(Instant::now().checked_add(timeout))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<()> {
        self.shared.join(deadline)?;
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        Ok(())
    }

    /// Deletes the pool name's keys from Redis (its task stream and worker
    /// group, dead letters, this caller's result stream): for tests and
    /// tear-down, once no worker serves the name any more.
    pub fn delete_keys(&self) -> Result<()> {
        self.shared.delete_keys()
    }

    // ----- internals ---------------------------------------------------------

    fn run_sized<A, R, I>(
        &self,
        function: &'static str,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let items: Vec<I::Item> = items.into_iter().collect();
        let chunksize = match chunksize {
            Some(n) => {
                check_chunksize(n)?;
                n
            }
            None => {
                let per = 4 * self.shared.workers_hint();
                items.len().div_ceil(per).max(1)
            }
        };
        let n = items.len();
        self.run_job::<A, R, Vec<R>, _>(function, items, n, all, chunksize)
    }

    fn run_job<A, R, T, I>(
        &self,
        function: &'static str,
        items: I,
        expected: usize,
        finish: fn(Vec<R>) -> T,
        chunksize: usize,
    ) -> Result<AsyncResult<T>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.shared.check_open()?;
        let _ = expected;
        let cell = Cell::new();
        let collect = Collect::<R, T>::new(cell.clone(), finish);
        let items: Vec<I::Item> = items.into_iter().collect();
        let refs: Vec<&A> = items.iter().map(Borrow::borrow).collect();
        let mut chunks = Vec::with_capacity(refs.len().div_ceil(chunksize));
        for (index, part) in refs.chunks(chunksize).enumerate() {
            let sink: Arc<dyn Sink> = collect.clone();
            chunks.push(Chunk {
                sink,
                index,
                start: index * chunksize,
                n: part.len(),
                args: encode_chunk(part)?,
            });
        }
        collect.expect_chunks(chunks.len());
        if let Err(e) = self.shared.submit(function, chunks) {
            collect.abandon(e.clone());
            return Err(e);
        }
        collect.seal();
        let router: Weak<dyn Route> = Arc::downgrade(&self.shared) as Weak<Shared>;
        Ok(AsyncResult::new(cell, router))
    }

    fn lazy<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMap<'a, R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator + 'a,
        I::Item: Borrow<A>,
    {
        let _ = f;
        check_chunksize(chunksize)?;
        self.shared.check_open()?;
        let function = registry::name_of::<F>()?;
        let mut items = items.into_iter();
        let feed: Feed<'a> = Box::new(move || {
            let part: Vec<I::Item> = items.by_ref().take(chunksize).collect();
            let refs: Vec<&A> = part.iter().map(Borrow::borrow).collect();
            (part.len(), encode_chunk(&refs))
        });
        Ok(IMap::new(
            self.shared.clone(),
            function,
            feed,
            ordered,
            self.window,
        ))
    }
}

impl Drop for Pool {
    /// Terminates the pool and reaps its local workers.
    fn drop(&mut self) {
        self.shared.terminate();
        let _ = self.join_until(Instant::now().checked_add(DROP_JOIN));
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.settings.name)
            .field("processes", &self.processes())
            .field("running", &self.shared.is_running())
            .field("pids", &self.pids())
            .finish()
    }
}
