//! `AsyncResult`, and the sinks that collect a job's chunks as their
//! results arrive.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Where the results of submitted chunks go.
pub(crate) trait Sink: Send + Sync {
    /// The outcome of chunk `index` of the job, covering items
    /// `start..start + n`: the encoded per-item results, or the chunk's
    /// error.
    fn deliver(&self, index: usize, start: usize, n: usize, outcome: Result<Vec<u8>>);
}

/// The pool side a blocked `get` reads results through, so that the thread
/// waiting for a result is the one Redis wakes with it (no hand-off from
/// the result thread: a cross-core wake-up saved per round trip).
pub(crate) trait Route: Send + Sync {
    /// A caller starts (`true`) or stops (`false`) waiting in a `get`.
    fn waiting(&self, yes: bool);

    /// Reads and routes the results that arrive until `until`, if nobody
    /// else is reading them now; whether it read.
    fn read_results(&self, until: Instant) -> bool;
}

/// How long a `get` that is not the reader waits before it looks whether
/// it can be.
const READER_POLL: Duration = Duration::from_millis(1);

/// The longest a `get` waits in Redis per read.
const READ_SLICE: Duration = Duration::from_millis(50);

/// Decodes a chunk's per-item results (each a postcard `Result<R, String>`,
/// `Err` holding a panic message).
pub(crate) fn decode_items<R: DeserializeOwned>(
    outcome: Result<Vec<u8>>,
    n: usize,
) -> Vec<Result<R>> {
    let bytes = match outcome {
        Ok(bytes) => bytes,
        Err(e) => return (0..n).map(|_| Err(e.clone())).collect(),
    };
    match mp_process::decode_results::<R>(&bytes, n) {
        Ok(items) => items
            .into_iter()
            .map(|item| item.map_err(Error::Panicked))
            .collect(),
        Err(e) => (0..n).map(|_| Err(Error::Decode(e.to_string()))).collect(),
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
    changed: Condvar,
}

impl<T> Cell<T> {
    pub(crate) fn new() -> Arc<Cell<T>> {
        Arc::new(Cell {
            state: Mutex::new(CellState::Pending),
            changed: Condvar::new(),
        })
    }

    fn set(&self, outcome: Result<T>) {
        let mut state = self.state.lock();
        if matches!(*state, CellState::Pending) {
            *state = CellState::Ready(outcome);
            self.changed.notify_all();
        }
    }

    /// Waits as [`wait`](Cell::wait) does, reading the results itself
    /// (through `router`) whenever no other thread reads them.
    fn wait_routed(
        &self,
        deadline: Option<Instant>,
        router: &Weak<dyn Route>,
    ) -> Result<MutexGuard<'_, CellState<T>>> {
        // A wait with a timeout never reads: a read waits for Redis as long
        // as the connection's I/O timeout (5 s), past a shorter deadline
        // if Redis hangs. The reader (the result thread, or an untimed
        // `get`) routes its result.
        let (None, Some(router)) = (deadline, router.upgrade()) else {
            return self.wait(deadline);
        };
        struct Waiting<'a>(&'a dyn Route);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.waiting(false);
            }
        }
        router.waiting(true);
        let _waiting = Waiting(&*router);
        loop {
            let now = Instant::now();
            let until = |slice| deadline.map_or(now + slice, |d: Instant| d.min(now + slice));
            {
                let state = self.state.lock();
                if !matches!(*state, CellState::Pending) {
                    return Ok(state);
                }
                if deadline.is_some_and(|d| now >= d) {
                    return Err(Error::Timeout);
                }
            }
            if router.read_results(until(READ_SLICE)) {
                continue;
            }
            // Another thread reads the results: it routes this one (and
            // wakes us), or stops reading soon.
            let mut state = self.state.lock();
            if matches!(*state, CellState::Pending) {
                self.changed.wait_until(&mut state, until(READER_POLL));
            }
        }
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<MutexGuard<'_, CellState<T>>> {
        let mut state = self.state.lock();
        while matches!(*state, CellState::Pending) {
            match deadline {
                None => self.changed.wait(&mut state),
                Some(d) => {
                    if self.changed.wait_until(&mut state, d).timed_out()
                        && matches!(*state, CellState::Pending)
                    {
                        return Err(Error::Timeout);
                    }
                }
            }
        }
        Ok(state)
    }
}

/// The result of an asynchronous call ([`Pool::apply_async`](crate::Pool::apply_async),
/// [`map_async`](crate::Pool::map_async), ...), as Python's `AsyncResult`.
///
/// Waiting never hangs on a lost worker: a task whose workers died is
/// [`Error::WorkerLost`], and one of a terminated pool [`Error::Terminated`].
pub struct AsyncResult<T> {
    cell: Arc<Cell<T>>,
    router: Weak<dyn Route>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(cell: Arc<Cell<T>>, router: Weak<dyn Route>) -> AsyncResult<T> {
        AsyncResult { cell, router }
    }

    /// Whether the call has finished (Python's `ready()`).
    pub fn ready(&self) -> bool {
        !matches!(*self.cell.state.lock(), CellState::Pending)
    }

    /// Whether the call finished without error (Python's `successful()`);
    /// [`Error::NotReady`] before it finished.
    pub fn successful(&self) -> Result<bool> {
        match &*self.cell.state.lock() {
            CellState::Pending => Err(Error::NotReady),
            CellState::Ready(outcome) => Ok(outcome.is_ok()),
            CellState::Taken { ok } => Ok(*ok),
        }
    }

    /// Waits until the call has finished (Python's `wait()`).
    pub fn wait(&self) {
        drop(self.cell.wait_routed(None, &self.router));
    }

    /// Waits up to `timeout`; whether the call has finished.
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.cell
            .wait_routed(Instant::now().checked_add(timeout), &self.router)
            .is_ok()
    }

    /// Waits for the call and returns its value or error (Python's `get()`).
    pub fn get(self) -> Result<T> {
        self.take(None)
    }

    /// Like [`get`](AsyncResult::get), waiting at most `timeout`:
    /// [`Error::Timeout`] after that (the task goes on; call again to wait
    /// more). Once a value was returned, later calls give
    /// [`Error::ResultTaken`].
    #[doc(alias = "get")]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.take(Instant::now().checked_add(timeout))
    }

    fn take(&self, deadline: Option<Instant>) -> Result<T> {
        let mut state = self.cell.wait_routed(deadline, &self.router)?;
        match std::mem::replace(&mut *state, CellState::Taken { ok: false }) {
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
            CellState::Pending => unreachable!("waited until not pending"),
        }
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

struct CollectState<R> {
    /// Each chunk's values, by chunk index, until all are in.
    parts: Vec<Option<Vec<R>>>,
    /// The error with the lowest item index so far.
    error: Option<(usize, Error)>,
    outstanding: usize,
    sealed: bool,
}

/// Collects the chunks of one `apply`/`map`/`starmap` job into its cell.
pub(crate) struct Collect<R, T> {
    state: Mutex<CollectState<R>>,
    cell: Arc<Cell<T>>,
    finish: fn(Vec<R>) -> T,
}

impl<R: DeserializeOwned + Send + 'static, T: Send + 'static> Collect<R, T> {
    pub(crate) fn new(cell: Arc<Cell<T>>, finish: fn(Vec<R>) -> T) -> Arc<Collect<R, T>> {
        Arc::new(Collect {
            state: Mutex::new(CollectState {
                parts: Vec::new(),
                error: None,
                outstanding: 0,
                sealed: false,
            }),
            cell,
            finish,
        })
    }

    /// Counts `n` more chunks about to be submitted.
    pub(crate) fn expect_chunks(&self, n: usize) {
        let mut state = self.state.lock();
        state.outstanding += n;
        let len = state.parts.len() + n;
        state.parts.resize_with(len, || None);
    }

    /// All chunks are submitted: the job finishes with its last one.
    pub(crate) fn seal(&self) {
        let mut state = self.state.lock();
        state.sealed = true;
        self.finish_if_done(state);
    }

    /// The job failed before all its chunks went out.
    pub(crate) fn abandon(&self, error: Error) {
        self.cell.set(Err(error));
    }

    fn finish_if_done(&self, mut state: MutexGuard<'_, CollectState<R>>) {
        if !state.sealed || state.outstanding > 0 {
            return;
        }
        let outcome = match state.error.take() {
            Some((_, e)) => Err(e),
            None => {
                let parts = std::mem::take(&mut state.parts);
                let values = parts.into_iter().flatten().flatten().collect();
                Ok((self.finish)(values))
            }
        };
        drop(state);
        self.cell.set(outcome);
    }
}

impl<R: DeserializeOwned + Send + 'static, T: Send + 'static> Sink for Collect<R, T> {
    fn deliver(&self, index: usize, start: usize, n: usize, outcome: Result<Vec<u8>>) {
        let mut values = Vec::with_capacity(n);
        let mut error = None;
        for (i, item) in decode_items::<R>(outcome, n).into_iter().enumerate() {
            match item {
                Ok(v) => values.push(v),
                Err(e) => {
                    error = Some((start + i, e));
                    break;
                }
            }
        }
        let mut state = self.state.lock();
        state.outstanding = state.outstanding.saturating_sub(1);
        match error {
            Some((at, e)) => {
                if state.error.as_ref().is_none_or(|(known, _)| at < *known) {
                    state.error = Some((at, e));
                }
            }
            None => {
                if let Some(slot) = state.parts.get_mut(index) {
                    *slot = Some(values);
                }
            }
        }
        self.finish_if_done(state);
    }
}
