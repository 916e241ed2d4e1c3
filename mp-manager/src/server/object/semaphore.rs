//! Semaphores and bounded semaphores: a counter that `acquire` takes from
//! and `release` gives back to.

use parking_lot::MutexGuard;

use super::{Object, Outcome, State, deadline_of};
use crate::server::Caller;
use crate::wire::{Answer, Fault, Op};

pub(super) struct Semaphore {
    value: u64,
    /// The most `value` may reach (a BoundedSemaphore's initial value).
    bound: Option<u64>,
}

impl Semaphore {
    pub(super) fn new(value: u64, bounded: bool) -> Semaphore {
        Semaphore {
            value,
            bound: bounded.then_some(value),
        }
    }
}

impl Object {
    /// Runs an operation on a Semaphore.
    pub(super) fn semaphore_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        match op {
            Op::SemAcquire(wait) => {
                let deadline = deadline_of(wait);
                loop {
                    let sem = semaphore_of(guard);
                    if sem.value > 0 {
                        sem.value -= 1;
                        return Ok(Answer::Bool(true));
                    }
                    if self.pause(guard, &deadline, caller)? {
                        return Ok(Answer::Bool(false));
                    }
                }
            }
            Op::SemRelease(n) => {
                let sem = semaphore_of(guard);
                let new = sem.value.saturating_add(n);
                if sem.bound.is_some_and(|b| new > b) {
                    return Err(Fault::TooManyReleases.into());
                }
                sem.value = new;
                self.cond.notify_all();
                Ok(Answer::Unit)
            }
            Op::SemValue => Ok(Answer::Count(semaphore_of(guard).value)),
            _ => unreachable!("dispatched by execute"),
        }
    }
}

/// The state of a Semaphore.
fn semaphore_of(state: &mut State) -> &mut Semaphore {
    let State::Semaphore(sem) = state else {
        unreachable!("dispatched by execute")
    };
    sem
}
