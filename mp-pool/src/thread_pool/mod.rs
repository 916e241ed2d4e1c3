//! `ThreadPool`: the `Pool` API on threads of this process (Python's
//! `multiprocessing.pool.ThreadPool`).

mod call;
mod gather;
mod imap;
mod threads;

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

pub use call::Call;
pub use imap::ThreadIMap;

use crate::arrivals::Arrivals;
use crate::error::{Error, Result};
use crate::pool::{all, check_chunksize, default_chunksize, only};
use crate::result::{AsyncResult, Callbacks, Cell, Stop, deadline_after};
use crate::scheduler::result_thread::on_result_thread;
use gather::{Gather, run_one};
use imap::Feed;
use threads::{Initializer, Job, Task, Threads};

/// How long dropping a thread pool waits for tasks still running.
const DROP_JOIN: Duration = Duration::from_secs(10);

/// Settings for a new [`ThreadPool`] (Python's `ThreadPool(processes,
/// initializer, initargs)`).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
/// let started = Arc::new(AtomicUsize::new(0));
/// let counter = started.clone();
#[doc = concat!("let pool = ", crate::mp_crate!(pool), "::ThreadPool::builder()")]
///     .threads(3)
///     .initializer(move || {
///         counter.fetch_add(1, Ordering::SeqCst);
///     })
///     .build()?;
/// pool.close();
/// pool.join()?;
/// assert_eq!(started.load(Ordering::SeqCst), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct ThreadPoolBuilder {
    threads: Option<usize>,
    initializer: Option<Initializer>,
    window: Option<usize>,
}

impl ThreadPoolBuilder {
    /// The number of threads (default: [`cpu_count()`](mp_process::cpu_count)).
    #[doc(alias = "processes")]
    pub fn threads(mut self, n: usize) -> ThreadPoolBuilder {
        self.threads = Some(n);
        self
    }

    /// Runs `f` on each thread before its first task (Python's
    /// `initializer` with `initargs`: capture them). If it panics, the pool
    /// stops and every unfinished task fails with [`Error::Initializer`].
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> ThreadPoolBuilder {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// How many chunks `imap` keeps in flight (default: four per thread,
    /// at least 8).
    pub fn imap_window(mut self, chunks: usize) -> ThreadPoolBuilder {
        self.window = Some(chunks);
        self
    }

    /// Starts the threads.
    pub fn build(self) -> Result<ThreadPool> {
        let threads = self.threads.unwrap_or_else(mp_process::cpu_count);
        if threads == 0 {
            return Err(Error::InvalidSetting(
                "a thread pool needs at least 1 thread".to_owned(),
            ));
        }
        if self.window == Some(0) {
            return Err(Error::InvalidSetting(
                "imap_window must be at least 1".to_owned(),
            ));
        }
        Ok(ThreadPool {
            threads: Threads::start(threads, self.initializer)?,
            window: self.window.unwrap_or((4 * threads).max(8)),
        })
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("threads", &self.threads)
            .field("initializer", &self.initializer.is_some())
            .field("window", &self.window)
            .finish()
    }
}

/// The [`Pool`](crate::Pool) API on threads of this process (Python's
/// `multiprocessing.pool.ThreadPool`).
///
/// Functions may be closures that capture anything `Send + Sync`, and
/// arguments and values need not be serde: nothing is serialized, nothing
/// crosses a process. A panic in a task is that task's
/// [`Error::Panicked`] with the panic message (also printed to stderr, as
/// a thread's panic is); a task that returns a `Result` hands it back as
/// its value, unwrapped. Everything else is [`Pool`](crate::Pool)'s:
/// `map`'s error is that of the lowest failing item, `imap` is lazy with
/// a bounded window, [`close`](ThreadPool::close) lets the queued tasks
/// finish, [`terminate`](ThreadPool::terminate) fails them at once with
/// [`Error::Terminated`], [`join`](ThreadPool::join) waits for the
/// threads, and dropping the pool terminates it.
///
/// A thread cannot be killed: a task already running when the pool is
/// terminated runs to its end (its value is dropped), and `join` waits for
/// it. A task may submit work to its own pool and wait for it, but it holds
/// its thread while it waits: if every thread waits so, nothing runs (as in
/// Python).
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(pool), "::ThreadPool;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
/// let pool = ThreadPool::new(4)?;
/// let offset = 10; // captured: closures are fine
/// assert_eq!(pool.map(move |x: u64| x * x + offset, 0..5u64)?, [10, 11, 14, 19, 26]);
/// assert_eq!(pool.starmap(|a: u64, b: u64| a * b, [(2, 3), (4, 5)])?, [6, 20]);
/// let lengths: Vec<usize> = pool
///     .imap(|s: String| s.len(), ["a", "bb", "ccc"].map(String::from))?
///     .collect::<Result<_, _>>()?;
/// assert_eq!(lengths, [1, 2, 3]);
/// let error = pool.apply(|| -> u8 { panic!("boom") }, ()).unwrap_err();
#[doc = concat!("assert_eq!(error, ", crate::mp_crate!(pool), "::Error::Panicked(\"boom\".into()));")]
/// pool.close();
/// pool.join()?;
/// # Ok(())
/// # }
/// ```
pub struct ThreadPool {
    threads: Arc<Threads>,
    window: usize,
}

impl ThreadPool {
    /// A pool of `threads` threads, or of [`cpu_count()`](mp_process::cpu_count)
    /// for `None` (Python's `ThreadPool()` / `ThreadPool(4)`). Zero is
    /// [`Error::InvalidSetting`].
    pub fn new(threads: impl Into<Option<usize>>) -> Result<ThreadPool> {
        ThreadPoolBuilder {
            threads: threads.into(),
            ..ThreadPoolBuilder::default()
        }
        .build()
    }

    /// Settings beyond the number of threads.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The number of threads.
    #[doc(alias = "_processes")]
    pub fn threads(&self) -> usize {
        self.threads.count
    }

    // ----- apply -----------------------------------------------------------

    /// Calls `f(args...)` on a thread and waits for its value (Python's `apply`).
    pub fn apply<F, A, R>(&self, f: F, args: A) -> Result<R>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// Calls `f(args...)` on a thread (Python's `apply_async`).
    pub fn apply_async<F, A, R>(&self, f: F, args: A) -> Result<AsyncResult<R>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.apply_async_with(f, args, Callbacks::new())
    }

    /// [`apply_async`](ThreadPool::apply_async) with a callback and/or an
    /// error callback, run on the thread that finished the call, before
    /// the result is ready.
    #[doc(alias = "callback")]
    #[doc(alias = "error_callback")]
    pub fn apply_async_with<F, A, R>(
        &self,
        f: F,
        args: A,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.gather(Arc::new(f), vec![args], 1, only, callbacks)
    }

    // ----- map ---------------------------------------------------------------

    /// Calls `f(item)` for every item on the threads and returns the values
    /// in order (Python's `map`), in chunks of about a quarter of the items
    /// per thread. The error is that of the lowest failing item.
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, None, Callbacks::new())?.get()
    }

    /// [`map`](ThreadPool::map) with `chunksize` items per task.
    #[doc(alias = "chunksize")]
    pub fn map_chunked<F, A, R, I>(&self, f: F, items: I, chunksize: usize) -> Result<Vec<R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, Some(chunksize), Callbacks::new())?
            .get()
    }

    /// [`map`](ThreadPool::map) without waiting (Python's `map_async`).
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, None, Callbacks::new())
    }

    /// [`map_async`](ThreadPool::map_async) with a chunksize (`None`: the
    /// default) and callbacks.
    pub fn map_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let items = items.into_iter().map(|a| (a,));
        self.starmap_async_with(f, items, chunksize, callbacks)
    }

    /// Calls `f(a, b, ...)` for every tuple of arguments and returns the
    /// values in order (Python's `starmap`).
    pub fn starmap<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async_with(f, items, None, Callbacks::new())?
            .get()
    }

    /// [`starmap`](ThreadPool::starmap) with `chunksize` tuples per task.
    #[doc(alias = "chunksize")]
    pub fn starmap_chunked<F, A, R, I>(&self, f: F, items: I, chunksize: usize) -> Result<Vec<R>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async_with(f, items, Some(chunksize), Callbacks::new())?
            .get()
    }

    /// [`starmap`](ThreadPool::starmap) without waiting (Python's `starmap_async`).
    pub fn starmap_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.starmap_async_with(f, items, None, Callbacks::new())
    }

    /// [`starmap_async`](ThreadPool::starmap_async) with a chunksize
    /// (`None`: the default) and callbacks.
    pub fn starmap_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let items: Vec<A> = items.into_iter().collect();
        let chunksize = self.chunksize(chunksize, items.len())?;
        self.gather(Arc::new(f), items, chunksize, all, callbacks)
    }

    // ----- imap --------------------------------------------------------------

    /// A lazy [`map`](ThreadPool::map): an iterator of each item's value (or
    /// error) in order (Python's `imap`, chunksize 1). Items are taken from
    /// `items` only as values are consumed, so `items` may be endless.
    pub fn imap<'a, F, A, R, I>(&self, f: F, items: I) -> Result<ThreadIMap<'a, R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A> + 'a,
    {
        self.lazy(f, items, 1, true)
    }

    /// [`imap`](ThreadPool::imap) with `chunksize` items per task.
    #[doc(alias = "chunksize")]
    pub fn imap_chunked<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<ThreadIMap<'a, R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A> + 'a,
    {
        self.lazy(f, items, chunksize, true)
    }

    /// Like [`imap`](ThreadPool::imap), yielding values as they come rather
    /// than in order (Python's `imap_unordered`).
    pub fn imap_unordered<'a, F, A, R, I>(&self, f: F, items: I) -> Result<ThreadIMap<'a, R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A> + 'a,
    {
        self.lazy(f, items, 1, false)
    }

    /// [`imap_unordered`](ThreadPool::imap_unordered) with `chunksize` items per task.
    #[doc(alias = "chunksize")]
    pub fn imap_unordered_chunked<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<ThreadIMap<'a, R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A> + 'a,
    {
        self.lazy(f, items, chunksize, false)
    }

    // ----- lifetime ----------------------------------------------------------

    /// Takes no more tasks; the threads exit once the tasks already given
    /// are done (Python's `close()`). Later calls that submit work fail
    /// with [`Error::Closed`].
    pub fn close(&self) {
        self.threads.close();
    }

    /// Drops the queued tasks and fails every unfinished one with
    /// [`Error::Terminated`], at once (Python's `terminate()`). Tasks
    /// already running run to their end on their threads: a thread cannot
    /// be killed.
    pub fn terminate(&self) {
        self.threads.stop(Error::Terminated);
    }

    /// Waits for the threads to exit (Python's `join()`); only after
    /// [`close`](ThreadPool::close) or [`terminate`](ThreadPool::terminate),
    /// else [`Error::StillRunning`]. From a task or callback of this pool
    /// it would wait for itself: [`Error::CalledFromCallback`].
    pub fn join(&self) -> Result<()> {
        self.join_until(None)
    }

    /// Like [`join`](ThreadPool::join), giving up with [`Error::Timeout`]
    /// after `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.join_until(Some(deadline_after(timeout)))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<()> {
        if self.threads.is_running() {
            return Err(Error::StillRunning);
        }
        if self.threads.on_worker() || on_result_thread() {
            return Err(Error::CalledFromCallback);
        }
        self.threads.join(deadline)
    }

    // ----- internals ---------------------------------------------------------

    fn chunksize(&self, chunksize: Option<usize>, items: usize) -> Result<usize> {
        match chunksize {
            Some(n) => check_chunksize(n).map(|()| n),
            None => Ok(default_chunksize(items, self.threads())),
        }
    }

    /// Runs `items` in chunks of `chunksize` as one job whose values
    /// `finish` turns into the result.
    fn gather<F, A, R, T>(
        &self,
        f: Arc<F>,
        items: Vec<A>,
        chunksize: usize,
        finish: fn(Vec<R>) -> T,
        callbacks: Callbacks<T>,
    ) -> Result<AsyncResult<T>>
    where
        F: Call<A, Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        T: Send + 'static,
    {
        self.threads.check_open()?;
        let cell = Cell::new();
        let (n, chunks) = (items.len(), items.len().div_ceil(chunksize));
        let gather = Gather::new(cell.clone(), finish, callbacks, n, chunks);
        let mut tasks: Vec<Task> = Vec::with_capacity(chunks);
        let mut items = items.into_iter();
        for start in (0..n).step_by(chunksize) {
            let chunk: Vec<A> = items.by_ref().take(chunksize).collect();
            let (f, gather) = (f.clone(), gather.clone());
            tasks.push(Box::new(move || {
                let outcomes = chunk
                    .into_iter()
                    .map(|args| run_one(|| f.call(args)))
                    .collect();
                gather.deliver(start, outcomes);
            }));
        }
        if chunks > 0 {
            let job: Arc<dyn Job> = gather;
            self.threads.submit(Arc::downgrade(&job), tasks)?;
        }
        let pool: Weak<Threads> = Arc::downgrade(&self.threads);
        Ok(AsyncResult::new(cell, pool))
    }

    fn lazy<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
        ordered: bool,
    ) -> Result<ThreadIMap<'a, R>>
    where
        F: Call<(A,), Output = R>,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A> + 'a,
    {
        check_chunksize(chunksize)?;
        self.threads.check_open()?;
        let f = Arc::new(f);
        let arrivals = Arc::new(Arrivals::new());
        let mut items = items.into_iter();
        let feed: Feed<'a> = {
            let arrivals = arrivals.clone();
            Box::new(move |seq| {
                let chunk: Vec<A> = items.by_ref().take(chunksize).collect();
                if chunk.is_empty() {
                    return None;
                }
                let (f, arrivals) = (f.clone(), arrivals.clone());
                Some(Box::new(move || {
                    let outcomes = chunk
                        .into_iter()
                        .map(|a| run_one(|| f.call((a,))))
                        .collect();
                    arrivals.put(seq, outcomes);
                }))
            })
        };
        Ok(ThreadIMap::new(
            self.threads.clone(),
            arrivals,
            feed,
            ordered,
            self.window,
        ))
    }
}

impl Drop for ThreadPool {
    /// Terminates the pool (as leaving Python's `with ThreadPool() as p:`
    /// does) and waits a while for tasks still running on its threads.
    fn drop(&mut self) {
        self.threads.stop(Error::Terminated);
        if !self.threads.on_worker() && !on_result_thread() {
            let _ = self.threads.join(Some(Instant::now() + DROP_JOIN));
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads())
            .field("running", &self.threads.is_running())
            .finish()
    }
}
