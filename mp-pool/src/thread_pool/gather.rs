//! The job of a thread pool's `apply`, `map` and `starmap`: chunks of items
//! run on the workers, their values gathered in order into one result.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};
use crate::result::{Callbacks, Cell};
use crate::scheduler::result_thread::as_result_thread;
use crate::thread_pool::threads::Job;

/// Runs one item, turning a panic into that item's error.
pub(crate) fn run_one<R>(f: impl FnOnce() -> R) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| Error::Panicked(mp_internal::panic_message(&*payload)))
}

/// The values of one job, by item index.
pub(crate) struct Gather<R, T> {
    state: Mutex<GatherState<R, T>>,
    cell: Arc<Cell<T>>,
    finish: fn(Vec<R>) -> T,
}

struct GatherState<R, T> {
    /// Each item's value, once its chunk is done (all dropped once an
    /// error is known).
    values: Vec<Option<R>>,
    /// The error with the lowest item index so far.
    error: Option<(usize, Error)>,
    /// Chunks not finished yet.
    outstanding: usize,
    /// Taken when the job finishes (or fails): it finishes once.
    callbacks: Option<Callbacks<T>>,
}

impl<R: Send + 'static, T: Send + 'static> Gather<R, T> {
    /// A job of `items` items in `chunks` chunks.
    pub(crate) fn new(
        cell: Arc<Cell<T>>,
        finish: fn(Vec<R>) -> T,
        callbacks: Callbacks<T>,
        items: usize,
        chunks: usize,
    ) -> Arc<Gather<R, T>> {
        let gather = Arc::new(Gather {
            state: Mutex::new(GatherState {
                values: std::iter::repeat_with(|| None).take(items).collect(),
                error: None,
                outstanding: chunks,
                callbacks: Some(callbacks),
            }),
            cell,
            finish,
        });
        if chunks == 0 {
            // No items: nothing will be delivered, finish now.
            gather.finish_if_done(gather.lock());
        }
        gather
    }

    fn lock(&self) -> MutexGuard<'_, GatherState<R, T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outcomes of the chunk whose first item is `start`.
    pub(crate) fn deliver(&self, start: usize, outcomes: Vec<Result<R>>) {
        let mut state = self.lock();
        state.outstanding -= 1;
        for (index, outcome) in (start..).zip(outcomes) {
            match outcome {
                Ok(value) if state.error.is_none() => state.values[index] = Some(value),
                Ok(_) => {}
                Err(e) => {
                    if state.error.as_ref().is_none_or(|(known, _)| index < *known) {
                        state.error = Some((index, e));
                        state.values = Vec::new();
                    }
                }
            }
        }
        self.finish_if_done(state);
    }

    fn finish_if_done(&self, mut state: MutexGuard<'_, GatherState<R, T>>) {
        if state.outstanding > 0 {
            return;
        }
        let Some(callbacks) = state.callbacks.take() else {
            return;
        };
        let outcome = match state.error.take() {
            Some((_, e)) => Err(e),
            None => {
                let values = std::mem::take(&mut state.values);
                Ok((self.finish)(
                    values
                        .into_iter()
                        .map(|v| v.expect("every chunk delivered"))
                        .collect(),
                ))
            }
        };
        drop(state);
        self.settle(callbacks, outcome);
    }

    fn settle(&self, callbacks: Callbacks<T>, outcome: Result<T>) {
        as_result_thread(|| callbacks.run(&outcome));
        self.cell.set(outcome);
    }
}

impl<R: Send + 'static, T: Send + 'static> Job for Gather<R, T> {
    fn fail(&self, reason: &Error) {
        let mut state = self.lock();
        let Some(callbacks) = state.callbacks.take() else {
            return;
        };
        state.values = Vec::new();
        drop(state);
        self.settle(callbacks, Err(reason.clone()));
    }
}
