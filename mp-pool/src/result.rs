//! `AsyncResult`, its callbacks, and the sink that collects a job's chunks.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::interrupt;
use crate::scheduler::result_thread::on_result_thread;
use crate::scheduler::{Scheduler, Sink};
use crate::wire;

/// How often a blocked call looks at the SIGINT flag.
pub(crate) const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// A pool as its results see it: what Ctrl-C during a wait stops (a
/// process pool, or a [`ThreadPool`](crate::ThreadPool)).
pub(crate) trait Stop: Send + Sync {
    /// Terminates the pool, failing every unfinished task with `reason`.
    fn stop(&self, reason: Error);

    /// Lets the waiting thread take results off the pool's queue itself
    /// until `ready()` (a process pool's routing; a thread pool has none).
    fn route_until(&self, _deadline: Option<Instant>, _ready: &dyn Fn() -> bool) -> Result<()> {
        Ok(())
    }
}

impl Stop for Scheduler {
    fn stop(&self, reason: Error) {
        Scheduler::stop(self, reason);
    }

    fn route_until(&self, deadline: Option<Instant>, ready: &dyn Fn() -> bool) -> Result<()> {
        Scheduler::route_until(self, deadline, ready)
    }
}

/// Functions run in this process when a result is ready (Python's
/// `callback` and `error_callback`).
///
/// They run on the pool's result thread (or on the thread that terminates
/// the pool, for the `Terminated` error), before [`AsyncResult::get`]
/// returns (never on a thread blocked in `get`, even one that takes
/// results off the queue while it waits). Keep them short: while one runs, no other result is routed. A
/// panic in a callback is printed and otherwise ignored.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(pool), "::Callbacks;")]
///
/// let cb: Callbacks<u64> = Callbacks::new()
///     .callback(|value| println!("got {value}"))
///     .error_callback(|e| eprintln!("failed: {e}"));
/// # drop(cb);
/// ```
pub struct Callbacks<T> {
    on_ok: Option<OnOk<T>>,
    on_err: Option<OnErr>,
}

type OnOk<T> = Box<dyn FnOnce(&T) + Send>;
type OnErr = Box<dyn FnOnce(&Error) + Send>;

impl<T> Callbacks<T> {
    /// No callbacks.
    pub fn new() -> Callbacks<T> {
        Callbacks {
            on_ok: None,
            on_err: None,
        }
    }

    /// Runs `f` with the value when the call succeeds (Python's `callback`).
    pub fn callback(mut self, f: impl FnOnce(&T) + Send + 'static) -> Callbacks<T> {
        self.on_ok = Some(Box::new(f));
        self
    }

    /// Runs `f` with the error when the call fails (Python's `error_callback`).
    pub fn error_callback(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Callbacks<T> {
        self.on_err = Some(Box::new(f));
        self
    }

    pub(crate) fn run(self, outcome: &Result<T>) {
        let ran = match outcome {
            Ok(value) => self
                .on_ok
                .map(|f| catch_unwind(AssertUnwindSafe(|| f(value)))),
            Err(e) => self.on_err.map(|f| catch_unwind(AssertUnwindSafe(|| f(e)))),
        };
        if let Some(Err(payload)) = ran {
            eprintln!(
                "mp-pool: a result callback panicked: {}",
                mp_internal::panic_message(&*payload)
            );
        }
    }
}

impl<T> Default for Callbacks<T> {
    fn default() -> Callbacks<T> {
        Callbacks::new()
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("callback", &self.on_ok.is_some())
            .field("error_callback", &self.on_err.is_some())
            .finish()
    }
}

enum CellState<T> {
    Pending,
    Ready(Result<T>),
    Taken { ok: bool },
}

/// Where a job's final outcome is left for its `AsyncResult`.
pub(crate) struct Cell<T> {
    state: Mutex<CellState<T>>,
    ready: AtomicBool,
    changed: Condvar,
    /// The task awaiting the result, if any. Registered and taken only
    /// while `state` is locked, so a result set after the awaiting task
    /// looked is never missed.
    waker: Mutex<Option<Waker>>,
}

impl<T> Cell<T> {
    pub(crate) fn new() -> Arc<Cell<T>> {
        Arc::new(Cell {
            state: Mutex::new(CellState::Pending),
            ready: AtomicBool::new(false),
            changed: Condvar::new(),
            waker: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, CellState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set(&self, outcome: Result<T>) {
        let mut state = self.lock();
        if matches!(*state, CellState::Pending) {
            *state = CellState::Ready(outcome);
            self.ready.store(true, Ordering::Release);
            self.changed.notify_all();
            let waker = self.waker().take();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    fn waker(&self) -> MutexGuard<'_, Option<Waker>> {
        self.waker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes the outcome out of a finished cell; `ResultTaken` if it was taken.
fn take_outcome<T>(state: &mut CellState<T>) -> Result<T> {
    match std::mem::replace(state, CellState::Taken { ok: false }) {
        CellState::Ready(outcome) => {
            *state = CellState::Taken {
                ok: outcome.is_ok(),
            };
            outcome
        }
        taken @ CellState::Taken { .. } => {
            *state = taken;
            Err(Error::ResultTaken)
        }
        CellState::Pending => unreachable!("taken only once not pending"),
    }
}

/// Waits until `ready()` holds, the deadline passes, or SIGINT arrives
/// (which terminates `pool`). `ready` is evaluated under `lock`'s mutex.
pub(crate) fn block_until<'a, S, P: Stop + ?Sized>(
    lock: &'a Mutex<S>,
    changed: &Condvar,
    deadline: Option<Instant>,
    pool: &Weak<P>,
    mut ready: impl FnMut(&mut S) -> bool,
) -> Result<MutexGuard<'a, S>> {
    let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
    if ready(&mut guard) {
        return Ok(guard);
    }
    if on_result_thread() {
        return Err(Error::CalledFromCallback);
    }
    let scope = interrupt::Scope::enter();
    loop {
        if scope.interrupted() {
            drop(guard);
            if let Some(pool) = pool.upgrade() {
                pool.stop(Error::Interrupted);
            }
            return Err(Error::Interrupted);
        }
        let mut slice = INTERRUPT_POLL;
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            slice = slice.min(left);
        }
        guard = changed
            .wait_timeout(guard, slice)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if ready(&mut guard) {
            return Ok(guard);
        }
    }
}

/// The result of an asynchronous call (Python's `AsyncResult`):
/// [`apply_async`](crate::Pool::apply_async), [`map_async`](crate::Pool::map_async)
/// and [`starmap_async`](crate::Pool::starmap_async) return one, as do
/// those of a [`ThreadPool`](crate::ThreadPool).
///
/// Waiting never hangs: if the worker running the task dies the result is
/// [`Error::WorkerLost`], and if the pool is terminated or dropped it is
/// [`Error::Terminated`].
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
/// use std::time::Duration;
///
/// fn double(n: u64) -> u64 {
///     2 * n
/// }
///
#[doc = concat!("let pool = ", crate::mp_crate!(pool), "::Pool::new(2)?;")]
/// let result = pool.apply_async(double, (21,))?;
/// result.wait_timeout(Duration::from_secs(10));
/// assert!(result.ready());
/// assert_eq!(result.successful(), Ok(true));
/// assert_eq!(result.get()?, 42);
/// # Ok(())
/// # }
/// ```
pub struct AsyncResult<T> {
    cell: Arc<Cell<T>>,
    pool: Weak<dyn Stop>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(cell: Arc<Cell<T>>, pool: Weak<dyn Stop>) -> AsyncResult<T> {
        AsyncResult { cell, pool }
    }

    /// Whether the call has finished (Python's `ready()`).
    pub fn ready(&self) -> bool {
        self.cell.ready.load(Ordering::Acquire)
    }

    /// Whether the call finished without error (Python's `successful()`);
    /// [`Error::NotReady`] before it finished.
    pub fn successful(&self) -> Result<bool> {
        match &*self.cell.lock() {
            CellState::Pending => Err(Error::NotReady),
            CellState::Ready(outcome) => Ok(outcome.is_ok()),
            CellState::Taken { ok } => Ok(*ok),
        }
    }

    /// Waits until the call has finished (Python's `wait()`).
    ///
    /// Returns early only if the wait itself cannot go on: Ctrl-C
    /// ([`Error::Interrupted`]) or a call from a callback.
    pub fn wait(&self) -> Result<()> {
        self.wait_until(None).map(drop)
    }

    /// Waits up to `timeout`; whether the call has finished (Python's
    /// `wait(timeout)`).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout)).is_ok()
    }

    /// Waits for the call and returns its value or error (Python's `get()`).
    pub fn get(self) -> Result<T> {
        self.take(None)
    }

    /// Like [`get`](AsyncResult::get), waiting at most `timeout`:
    /// [`Error::Timeout`] after that, and the task keeps running (call
    /// again to wait more). Once a value was returned, later calls give
    /// [`Error::ResultTaken`].
    #[doc(alias = "get")]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.take(Some(deadline_after(timeout)))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<MutexGuard<'_, CellState<T>>> {
        // Route reports here while waiting: the result then comes straight
        // from the worker, not through the result thread.
        if !self.ready() {
            if let Some(pool) = self.pool.upgrade() {
                pool.route_until(deadline, &|| self.ready())?;
            }
        }
        block_until(
            &self.cell.state,
            &self.cell.changed,
            deadline,
            &self.pool,
            |state| !matches!(state, CellState::Pending),
        )
    }

    fn take(&self, deadline: Option<Instant>) -> Result<T> {
        let mut state = self.wait_until(deadline)?;
        take_outcome(&mut state)
    }
}

/// Awaiting an `AsyncResult` gives what [`get`](AsyncResult::get) would,
/// without blocking the executor's thread: the pool's result thread wakes
/// the awaiting task when the result is set. It needs no particular
/// runtime (tokio, smol, async-std or a hand-made executor all work).
///
/// A wait that should end after a time is the runtime's timeout around
/// the `.await` (the task keeps running, as with
/// [`get_timeout`](AsyncResult::get_timeout)). Ctrl-C does not end an
/// await: the runtime's signal handling decides that.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
/// fn double(n: u64) -> u64 {
///     2 * n
/// }
///
#[doc = concat!("let pool = ", crate::mp_crate!(pool), "::Pool::new(2)?;")]
/// let result = pool.apply_async(double, (21,))?;
/// // Any executor: here the smallest one, in std alone.
/// let value = block_on(result.into_future())?;
/// assert_eq!(value, 42);
/// # Ok(())
/// # }
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     struct Unpark(std::thread::Thread);
/// #     impl Wake for Unpark {
/// #         fn wake(self: std::sync::Arc<Self>) { self.0.unpark() }
/// #     }
/// #     let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
/// #             return v;
/// #         }
/// #         std::thread::park();
/// #     }
/// # }
/// ```
impl<T> IntoFuture for AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = AsyncResultFuture<T>;

    fn into_future(self) -> AsyncResultFuture<T> {
        AsyncResultFuture { cell: self.cell }
    }
}

/// The future of an awaited [`AsyncResult`] (see its `IntoFuture`).
#[must_use = "a future does nothing unless awaited"]
pub struct AsyncResultFuture<T> {
    cell: Arc<Cell<T>>,
}

impl<T> Future for AsyncResultFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut state = self.cell.lock();
        if matches!(*state, CellState::Pending) {
            // Under the state's lock: `set` takes the waker under it too.
            let mut waker = self.cell.waker();
            match &mut *waker {
                Some(known) if known.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        Poll::Ready(take_outcome(&mut state))
    }
}

impl<T> fmt::Debug for AsyncResultFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResultFuture")
            .field("ready", &self.cell.ready.load(Ordering::Acquire))
            .finish()
    }
}

/// When `timeout` from now runs out (a year from now for a huge one).
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

/// Collects the chunks of one `apply`/`map`/`starmap` job into its cell.
pub(crate) struct Collect<R, T> {
    state: Mutex<CollectState<R, T>>,
    cell: Arc<Cell<T>>,
    finish: fn(Vec<R>) -> T,
    /// The job has a callback or an error callback.
    with_callbacks: bool,
}

struct CollectState<R, T> {
    /// The values of chunks `0..merged`, in order.
    values: Vec<R>,
    merged: usize,
    /// The values of chunks that came before an earlier one, by chunk
    /// number (all dropped once an error is known).
    parts: Vec<Option<Vec<R>>>,
    /// The error with the lowest item index so far.
    error: Option<(usize, Error)>,
    /// Chunks submitted and not yet delivered.
    outstanding: usize,
    /// All chunks are submitted.
    sealed: bool,
    callbacks: Option<Callbacks<T>>,
}

impl<R: DeserializeOwned + Send + 'static, T: Send + 'static> Collect<R, T> {
    /// A job of about `expected` items.
    pub(crate) fn new(
        cell: Arc<Cell<T>>,
        finish: fn(Vec<R>) -> T,
        callbacks: Callbacks<T>,
        expected: usize,
    ) -> Arc<Collect<R, T>> {
        let with_callbacks = callbacks.on_ok.is_some() || callbacks.on_err.is_some();
        Arc::new(Collect {
            state: Mutex::new(CollectState {
                values: Vec::with_capacity(expected),
                merged: 0,
                parts: Vec::new(),
                error: None,
                outstanding: 0,
                sealed: false,
                callbacks: Some(callbacks),
            }),
            cell,
            finish,
            with_callbacks,
        })
    }

    fn lock(&self) -> MutexGuard<'_, CollectState<R, T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a chunk about to be submitted.
    pub(crate) fn expect_chunk(&self) {
        let mut state = self.lock();
        state.outstanding += 1;
        state.parts.push(None);
    }

    /// A chunk counted with `expect_chunk` will not be delivered after all:
    /// the job is abandoned (its caller gets the error), so chunks already
    /// submitted must not finish it or run its callbacks.
    pub(crate) fn forget_chunk(&self) {
        let mut state = self.lock();
        state.outstanding -= 1;
        state.parts.pop();
        state.callbacks = None;
    }

    /// All chunks are submitted: the job finishes with its last chunk.
    pub(crate) fn seal(&self) {
        let mut state = self.lock();
        state.sealed = true;
        self.finish_if_done(state);
    }

    fn finish_if_done(&self, mut state: MutexGuard<'_, CollectState<R, T>>) {
        if !state.sealed || state.outstanding > 0 {
            return;
        }
        let Some(callbacks) = state.callbacks.take() else {
            return;
        };
        let outcome = match state.error.take() {
            Some((_, e)) => Err(e),
            None => {
                // Every chunk came, so every chunk was merged.
                let values = std::mem::take(&mut state.values);
                Ok((self.finish)(values))
            }
        };
        drop(state);
        callbacks.run(&outcome);
        self.cell.set(outcome);
    }
}

impl<R: DeserializeOwned + Send + 'static, T: Send + 'static> Sink for Collect<R, T> {
    fn has_callbacks(&self) -> bool {
        self.with_callbacks
    }

    fn deliver(&self, seq: usize, start: usize, n: usize, outcome: Result<Vec<u8>>) {
        let mut values = Vec::with_capacity(n);
        let mut error = None;
        match outcome {
            Ok(bytes) => {
                let mut index = start;
                wire::decode_results::<R>(&bytes, n, |item| {
                    match item {
                        Ok(value) if error.is_none() => values.push(value),
                        Ok(_) => {}
                        Err(e) => {
                            if error.is_none() {
                                error = Some((index, e));
                            }
                        }
                    }
                    index += 1;
                });
            }
            Err(e) => error = Some((start, e)),
        }
        let mut state = self.lock();
        state.outstanding -= 1;
        match error {
            Some((index, e)) => {
                if state.error.as_ref().is_none_or(|(known, _)| index < *known) {
                    state.error = Some((index, e));
                }
                state.parts.clear();
                state.values = Vec::new();
            }
            None if state.error.is_none() => {
                if let Some(slot) = state.parts.get_mut(seq) {
                    *slot = Some(values);
                }
                // Merge the chunks that are now in order (while later
                // chunks are still running, not all at the end).
                let st = &mut *state;
                while let Some(part) = st.parts.get_mut(st.merged).and_then(Option::take) {
                    if st.values.is_empty() && st.values.capacity() < part.len() {
                        st.values = part;
                    } else {
                        st.values.extend(part);
                    }
                    st.merged += 1;
                }
            }
            None => {}
        }
        self.finish_if_done(state);
    }
}
