//! `Pool`: its calls, and how it ends (the settings are in `pool_builder`).

use std::borrow::Borrow;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mp_process::{Args, Target};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::frames::FrameWriter;
use crate::imap::{Feed, IMap};
use crate::pool_builder::PoolBuilder;
use crate::result::{AsyncResult, Callbacks, Cell, Collect, deadline_after};
use crate::scheduler::result_thread::on_result_thread;
use crate::scheduler::{Scheduler, Sink};
use crate::wire::{self, FnRef};

/// How long dropping a pool waits for its workers to be reaped.
const DROP_JOIN: Duration = Duration::from_secs(10);

/// A pool of worker processes (Python's `multiprocessing.Pool`).
///
/// Functions are plain `fn` items (or closures that capture nothing) whose
/// arguments and results are serde values: they run in the workers, which
/// are fresh processes started by any start method. Arguments and results
/// must be plain data — they cannot carry OS handles (a `Queue`, a
/// `Connection`, ...): pass those to a [`Process`](mp_process::Process)
/// instead.
///
/// | Python | mp-pool |
/// |---|---|
/// | `pool.apply(f, (a,))` | [`apply(f, (a,))`](Pool::apply) |
/// | `pool.apply_async(f, (a,), callback=c, error_callback=e)` | [`apply_async`](Pool::apply_async), [`apply_async_with`](Pool::apply_async_with) |
/// | `pool.map(f, xs, chunksize)` | [`map`](Pool::map), [`map_chunked`](Pool::map_chunked) |
/// | `pool.map_async(f, xs, chunksize, callback, error_callback)` | [`map_async`](Pool::map_async), [`map_async_with`](Pool::map_async_with) |
/// | `pool.starmap(f, [(a, b), ...])`, `starmap_async` | [`starmap`](Pool::starmap), [`starmap_chunked`](Pool::starmap_chunked), [`starmap_async`](Pool::starmap_async), [`starmap_async_with`](Pool::starmap_async_with) |
/// | `pool.imap(f, xs, chunksize)`, `imap_unordered` | [`imap`](Pool::imap), [`imap_chunked`](Pool::imap_chunked), [`imap_unordered`](Pool::imap_unordered), [`imap_unordered_chunked`](Pool::imap_unordered_chunked) |
/// | `pool.close()`, `terminate()`, `join()` | same names; [`join_timeout`](Pool::join_timeout) |
/// | `with Pool() as p:` | dropping the pool terminates it |
///
/// A pool is `Sync`: threads may share it by reference.
pub struct Pool {
    pub(crate) scheduler: Arc<Scheduler>,
}

/// The chunksize CPython picks for `map`: about four chunks per worker.
pub(crate) fn default_chunksize(items: usize, processes: usize) -> usize {
    items.div_ceil(4 * processes).max(1)
}

pub(crate) fn check_chunksize(chunksize: usize) -> Result<()> {
    if chunksize == 0 {
        Err(Error::InvalidSetting(
            "chunksize must be at least 1".to_owned(),
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn only<R>(mut values: Vec<R>) -> R {
    values.pop().expect("a one-item job has one value")
}

pub(crate) fn all<R>(values: Vec<R>) -> Vec<R> {
    values
}

impl Pool {
    /// A pool of `processes` workers, or of [`cpu_count()`](mp_process::cpu_count)
    /// workers for `None` (Python's `Pool()` / `Pool(4)`). Zero is
    /// [`Error::InvalidSetting`].
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
    #[doc = concat!("let pool = ", crate::mp_crate!(pool), "::Pool::new(2)?;")]
    #[doc = concat!("let default = ", crate::mp_crate!(pool), "::Pool::new(None)?;")]
    #[doc = concat!("assert_eq!(default.processes(), ", crate::mp_crate!(process), "::cpu_count());")]
    #[doc = concat!("assert!(", crate::mp_crate!(pool), "::Pool::new(0).is_err());")]
    /// # drop(pool);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(processes: impl Into<Option<usize>>) -> Result<Pool> {
        let mut builder = PoolBuilder::new();
        builder.processes = processes.into();
        builder.build()
    }

    /// Settings beyond the number of workers.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    /// The number of workers the pool keeps.
    #[doc(alias = "_processes")]
    pub fn processes(&self) -> usize {
        self.scheduler.config.processes
    }

    /// What the workers that have ended used together (CPU time, the
    /// largest peak RSS): after [`join`](Pool::join), every worker the pool
    /// ever had, replaced ones included, and nothing else
    /// (`resource.getrusage(RUSAGE_CHILDREN)`, where Python reads it, mixes
    /// in every other child of the process).
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(pool), "::Pool;")]
    ///
    /// fn work(n: u64) -> u64 {
    ///     (0..n).map(std::hint::black_box).sum()
    /// }
    ///
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
    /// let pool = Pool::new(2)?;
    /// pool.map(work, [1_000_000u64; 4])?;
    /// pool.close();
    /// pool.join()?;
    /// println!("the workers used {:?} of CPU", pool.workers_rusage().cpu_time());
    /// # Ok(())
    /// # }
    /// ```
    pub fn workers_rusage(&self) -> mp_process::ResourceUsage {
        *self
            .scheduler
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The process ids of the workers alive now (they change as workers
    /// are replaced).
    pub fn pids(&self) -> Vec<u32> {
        self.scheduler.pids()
    }

    // ----- apply -----------------------------------------------------------

    /// Calls `f(args...)` in a worker and waits for its value (Python's
    /// `apply`).
    pub fn apply<F, A, R>(&self, f: F, args: A) -> Result<R>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let fref = wire::fn_ref(f)?;
        let once = std::iter::once(args);
        self.run_job::<A, R, R, _>(fref, once, 1, 1, only, Callbacks::new())?
            .get()
    }

    /// Calls `f(args...)` in a worker (Python's `apply_async`).
    pub fn apply_async<F, A, R>(&self, f: F, args: A) -> Result<AsyncResult<R>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, args, Callbacks::new())
    }

    /// [`apply_async`](Pool::apply_async) with a callback and/or an error
    /// callback, run in this process when the result is ready.
    #[doc(alias = "callback")]
    #[doc(alias = "error_callback")]
    pub fn apply_async_with<F, A, R>(
        &self,
        f: F,
        args: A,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let fref = wire::fn_ref(f)?;
        let once = std::iter::once(args);
        let result = self.run_job::<A, R, R, _>(fref, once, 1, 1, only, callbacks);
        // No one may wait for it: the result thread must route it.
        self.scheduler.kick();
        result
    }

    // ----- map ---------------------------------------------------------------

    /// Calls `f(item)` for every item in the workers and returns the values
    /// in order (Python's `map`), in chunks of about a quarter of the
    /// items per worker. The error is that of the lowest failing item.
    ///
    /// Items may be values or references (`&vec` works for `fn(T)`).
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let fref = wire::fn_ref(f)?;
        self.run_sized::<A, R, _>(fref, items, None, Callbacks::new())?
            .get()
    }

    /// [`map`](Pool::map) with `chunksize` items per task (Python's
    /// `map(f, items, chunksize)`).
    #[doc(alias = "chunksize")]
    pub fn map_chunked<F, A, R, I>(&self, f: F, items: I, chunksize: usize) -> Result<Vec<R>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let fref = wire::fn_ref(f)?;
        let callbacks = Callbacks::new();
        self.run_sized::<A, R, _>(fref, items, Some(chunksize), callbacks)?
            .get()
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
        self.map_async_with(f, items, None, Callbacks::new())
    }

    /// [`map_async`](Pool::map_async) with a chunksize (`None`: the default)
    /// and callbacks.
    #[doc(alias = "callback")]
    #[doc(alias = "error_callback")]
    pub fn map_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Target<(A,), Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let fref = wire::fn_ref(f)?;
        let result = self.run_sized::<A, R, _>(fref, items, chunksize, callbacks);
        // No one may wait for it: the result thread must route it.
        self.scheduler.kick();
        result
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
        let fref = wire::fn_ref(f)?;
        self.run_sized::<A, R, _>(fref, items, None, Callbacks::new())?
            .get()
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
        let fref = wire::fn_ref(f)?;
        let callbacks = Callbacks::new();
        self.run_sized::<A, R, _>(fref, items, Some(chunksize), callbacks)?
            .get()
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
        self.starmap_async_with(f, items, None, Callbacks::new())
    }

    /// [`starmap_async`](Pool::starmap_async) with a chunksize (`None`: the
    /// default) and callbacks.
    #[doc(alias = "callback")]
    #[doc(alias = "error_callback")]
    pub fn starmap_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Target<A, Output = R>,
        A: Args,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let fref = wire::fn_ref(f)?;
        let result = self.run_sized::<A, R, _>(fref, items, chunksize, callbacks);
        // No one may wait for it: the result thread must route it.
        self.scheduler.kick();
        result
    }

    // ----- imap --------------------------------------------------------------

    /// A lazy [`map`](Pool::map): an iterator of each item's value (or
    /// error) in order (Python's `imap`, chunksize 1). It takes items from
    /// `items` only as results are consumed, so `items` may be endless.
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
        self.lazy(f, items, chunksize, true)
    }

    /// Like [`imap`](Pool::imap), yielding results as they come rather than
    /// in order (Python's `imap_unordered`).
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
        self.lazy(f, items, chunksize, false)
    }

    // ----- lifetime ----------------------------------------------------------

    /// Takes no more tasks; the workers exit once the tasks already given
    /// are done (Python's `close()`). Later calls that submit work fail
    /// with [`Error::Closed`].
    pub fn close(&self) {
        self.scheduler.close();
    }

    /// Stops the workers now (they are killed), without finishing the
    /// tasks given (Python's `terminate()`). Every unfinished task fails
    /// with [`Error::Terminated`]; returns at once, even with thousands of
    /// tasks queued.
    pub fn terminate(&self) {
        self.scheduler.stop(Error::Terminated);
    }

    /// Waits for the workers to exit (Python's `join()`); only after
    /// [`close`](Pool::close) or [`terminate`](Pool::terminate), else
    /// [`Error::StillRunning`].
    pub fn join(&self) -> Result<()> {
        self.join_until(None)
    }

    /// Like [`join`](Pool::join), giving up with [`Error::Timeout`] after
    /// `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.join_until(Some(deadline_after(timeout)))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<()> {
        if self.scheduler.is_running() {
            return Err(Error::StillRunning);
        }
        if on_result_thread() {
            return Err(Error::CalledFromCallback);
        }
        self.scheduler.join(deadline)
    }

    // ----- internals ---------------------------------------------------------

    fn chunksize(&self, chunksize: Option<usize>, items: usize) -> Result<usize> {
        match chunksize {
            Some(n) => check_chunksize(n).map(|()| n),
            None => Ok(default_chunksize(items, self.processes())),
        }
    }

    /// A `map`-like job: the number of items decides the default
    /// chunksize (without collecting the items first if the iterator
    /// knows its length).
    fn run_sized<A, R, I>(
        &self,
        fref: Arc<FnRef>,
        items: I,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        let items = items.into_iter();
        match items.size_hint() {
            (low, Some(high)) if low == high => {
                let chunksize = self.chunksize(chunksize, low)?;
                self.run_job::<A, R, Vec<R>, _>(fref, items, low, chunksize, all, callbacks)
            }
            _ => {
                let items: Vec<I::Item> = items.collect();
                let chunksize = self.chunksize(chunksize, items.len())?;
                let n = items.len();
                self.run_job::<A, R, Vec<R>, _>(fref, items, n, chunksize, all, callbacks)
            }
        }
    }

    /// Frames `items` (about `expected` of them) into chunks of `chunksize`
    /// and submits them as one job.
    fn run_job<A, R, T, I>(
        &self,
        fref: Arc<FnRef>,
        items: I,
        expected: usize,
        chunksize: usize,
        finish: fn(Vec<R>) -> T,
        callbacks: Callbacks<T>,
    ) -> Result<AsyncResult<T>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        I: IntoIterator,
        I::Item: Borrow<A>,
    {
        self.scheduler.check_open()?;
        let cell = Cell::new();
        let collect = Collect::<R, T>::new(cell.clone(), finish, callbacks, expected);
        let mut items = items.into_iter().peekable();
        let (mut seq, mut start) = (0, 0);
        while items.peek().is_some() {
            let mut chunk = FrameWriter::with_capacity(0, chunksize.min(1 << 16));
            for item in items.by_ref().take(chunksize) {
                wire::push_arg::<A>(&mut chunk, item.borrow());
            }
            let n = chunk.len();
            let args = chunk.finish().map_err(Error::Encode)?;
            collect.expect_chunk();
            if items.peek().is_none() {
                // Sealed before the last chunk goes out, so that the job
                // finishes (and its callbacks run) on the result thread,
                // never here, however fast the workers are.
                collect.seal();
            }
            let sink: Arc<dyn Sink> = collect.clone();
            if let Err(e) = self.scheduler.submit(sink, seq, start, n, &fref, args) {
                collect.forget_chunk();
                return Err(e);
            }
            if seq == 0 && items.peek().is_some() {
                // More chunks to frame here: meanwhile the result thread
                // routes the results of the first ones (and the caller
                // then waits for it to route the rest, as before).
                self.scheduler.kick();
            }
            seq += 1;
            start += n;
        }
        if seq == 0 {
            // No items: nothing will be delivered, finish now.
            collect.seal();
        }
        let pool: Weak<Scheduler> = Arc::downgrade(&self.scheduler);
        Ok(AsyncResult::new(cell, pool))
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
        check_chunksize(chunksize)?;
        self.scheduler.check_open()?;
        let fref = wire::fn_ref(f)?;
        let mut items = items.into_iter();
        let feed: Feed<'a> = Box::new(move || {
            let mut chunk = FrameWriter::with_capacity(0, chunksize.min(1 << 16));
            for item in items.by_ref().take(chunksize) {
                wire::push_arg::<A>(&mut chunk, item.borrow());
            }
            (chunk.len(), chunk.finish().map_err(Error::Encode))
        });
        Ok(IMap::new(
            self.scheduler.clone(),
            fref,
            feed,
            ordered,
            self.scheduler.config.window,
        ))
    }
}

impl Drop for Pool {
    /// Terminates the pool (as leaving Python's `with Pool() as p:` does)
    /// and reaps its workers: no process is left behind.
    fn drop(&mut self) {
        self.scheduler.stop(Error::Terminated);
        if !on_result_thread() {
            let _ = self.scheduler.join(Some(Instant::now() + DROP_JOIN));
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes())
            .field("running", &self.scheduler.is_running())
            .field("pids", &self.pids())
            .finish()
    }
}
