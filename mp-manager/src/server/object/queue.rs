//! Queues and joinable queues: items first in, first out, with an optional
//! bound and a count of unfinished tasks.

use std::collections::VecDeque;

use parking_lot::MutexGuard;

use super::{Object, Outcome, State, deadline_of};
use crate::server::Caller;
use crate::wire::{Answer, Fault, Item, Op, Wait};

pub(super) struct Queue {
    pub(super) items: VecDeque<Item>,
    maxsize: u64,
    unfinished: u64,
}

impl Queue {
    pub(super) fn new(maxsize: u64) -> Queue {
        Queue {
            items: VecDeque::new(),
            maxsize,
            unfinished: 0,
        }
    }
}

impl Object {
    /// Runs an operation every queue takes.
    pub(super) fn queue_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        match op {
            Op::QPut(item, wait) => self.queue_put(guard, item, wait, caller),
            Op::QGet(wait) => self.queue_get(guard, wait, caller),
            Op::QSize => Ok(Answer::Count(queue_of(guard).items.len() as u64)),
            Op::QMaxSize => Ok(Answer::Count(queue_of(guard).maxsize)),
            _ => unreachable!("dispatched by execute"),
        }
    }

    /// Runs an operation only a joinable queue takes.
    pub(super) fn joinable_queue_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        match op {
            Op::QTaskDone => {
                let q = queue_of(guard);
                if q.unfinished == 0 {
                    return Err(Fault::TooManyReleases.into());
                }
                q.unfinished -= 1;
                if q.unfinished == 0 {
                    self.cond.notify_all();
                }
                Ok(Answer::Unit)
            }
            Op::QJoin(wait) => {
                let deadline = deadline_of(wait);
                loop {
                    if queue_of(guard).unfinished == 0 {
                        return Ok(Answer::Bool(true));
                    }
                    if self.pause(guard, &deadline, caller)? {
                        return Ok(Answer::Bool(false));
                    }
                }
            }
            _ => unreachable!("dispatched by execute"),
        }
    }

    fn queue_put(
        &self,
        guard: &mut MutexGuard<'_, State>,
        item: Item,
        wait: Wait,
        caller: &Caller<'_>,
    ) -> Outcome {
        caller.hold(&item.refs)?;
        let deadline = deadline_of(wait);
        let mut item = Some(item);
        loop {
            let q = queue_of(guard);
            if q.maxsize == 0 || (q.items.len() as u64) < q.maxsize {
                q.items.push_back(item.take().expect("put once"));
                q.unfinished += 1;
                self.cond.notify_all();
                return Ok(Answer::Unit);
            }
            let paused = self.pause(guard, &deadline, caller);
            if !matches!(paused, Ok(false)) {
                caller.release(item.take().expect("not put").refs);
                return match paused {
                    Ok(_) => Err(Fault::Full.into()),
                    Err(stop) => Err(stop),
                };
            }
        }
    }

    fn queue_get(
        &self,
        guard: &mut MutexGuard<'_, State>,
        wait: Wait,
        caller: &Caller<'_>,
    ) -> Outcome {
        let deadline = deadline_of(wait);
        loop {
            let q = queue_of(guard);
            if let Some(item) = q.items.pop_front() {
                self.cond.notify_all();
                caller.grant(&item.refs);
                caller.release(item.refs.iter().copied());
                return Ok(Answer::Item(item));
            }
            if self.pause(guard, &deadline, caller)? {
                return Err(Fault::Empty.into());
            }
        }
    }
}

/// The queue of a queue object.
fn queue_of(state: &mut State) -> &mut Queue {
    let State::Queue(q) = state else {
        unreachable!("dispatched by execute")
    };
    q
}
