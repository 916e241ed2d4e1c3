//! Events: a flag that `wait` waits to see set.

use parking_lot::MutexGuard;

use super::{Object, Outcome, State, deadline_of};
use crate::server::Caller;
use crate::wire::{Answer, Op};

impl Object {
    /// Runs an operation on an Event.
    pub(super) fn event_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        match op {
            Op::EvSet => {
                *flag_of(guard) = true;
                self.cond.notify_all();
                Ok(Answer::Unit)
            }
            Op::EvClear => {
                *flag_of(guard) = false;
                Ok(Answer::Unit)
            }
            Op::EvIsSet => Ok(Answer::Bool(*flag_of(guard))),
            Op::EvWait(wait) => {
                let deadline = deadline_of(wait);
                loop {
                    if *flag_of(guard) {
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
}

/// The flag of an Event.
fn flag_of(state: &mut State) -> &mut bool {
    let State::Event(flag) = state else {
        unreachable!("dispatched by execute")
    };
    flag
}
