//! Conditions: a reentrant lock and a queue of waiters, each waiting for
//! its own notification.

use std::collections::{HashSet, VecDeque};

use parking_lot::MutexGuard;

use super::{Deadline, LockState, Object, Outcome, Owner, State, deadline_of};
use crate::server::Caller;
use crate::wire::{Answer, Fault, Op};

pub(super) struct ConditionState {
    pub(super) lock: LockState,
    waiters: VecDeque<u64>,
    notified: HashSet<u64>,
    next_ticket: u64,
}

impl ConditionState {
    pub(super) fn new() -> ConditionState {
        ConditionState {
            lock: LockState::new(true),
            waiters: VecDeque::new(),
            notified: HashSet::new(),
            next_ticket: 0,
        }
    }
}

impl Object {
    /// Runs an operation only a Condition takes (its lock takes
    /// [`lock_op`](Object::lock_op)).
    pub(super) fn condition_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        match op {
            Op::CondWait { thread, wait } => {
                self.cond_wait(guard, caller.owner(thread), &deadline_of(wait), caller)
            }
            Op::CondNotify { thread, n } => {
                let cond = condition_of(guard);
                if cond.lock.owner != Some(caller.owner(thread)) {
                    return Err(Fault::NotOwner.into());
                }
                let mut n = n;
                while n > 0 {
                    let Some(ticket) = cond.waiters.pop_front() else {
                        break;
                    };
                    cond.notified.insert(ticket);
                    n -= 1;
                }
                self.cond.notify_all();
                Ok(Answer::Unit)
            }
            _ => unreachable!("dispatched by execute"),
        }
    }

    fn cond_wait(
        &self,
        guard: &mut MutexGuard<'_, State>,
        me: Owner,
        deadline: &Deadline,
        caller: &Caller<'_>,
    ) -> Outcome {
        let cond = condition_of(guard);
        if cond.lock.owner != Some(me) {
            return Err(Fault::NotOwner.into());
        }
        let saved = cond.lock.count;
        cond.lock.owner = None;
        cond.lock.count = 0;
        let ticket = cond.next_ticket;
        cond.next_ticket += 1;
        cond.waiters.push_back(ticket);
        self.cond.notify_all();
        let forget = |guard: &mut MutexGuard<'_, State>| {
            let cond = condition_of(guard);
            cond.waiters.retain(|&t| t != ticket);
            cond.notified.remove(&ticket);
        };
        let notified = loop {
            let cond = condition_of(guard);
            if cond.notified.remove(&ticket) {
                break true;
            }
            match self.pause(guard, deadline, caller) {
                Ok(false) => {}
                Ok(true) => {
                    forget(guard);
                    break false;
                }
                Err(stop) => {
                    forget(guard);
                    return Err(stop);
                }
            }
        };
        // Re-acquire (without a time limit, as Python does).
        loop {
            let cond = condition_of(guard);
            if cond.lock.owner.is_none() {
                cond.lock.owner = Some(me);
                cond.lock.count = saved;
                return Ok(Answer::Bool(notified));
            }
            self.pause(guard, &Deadline::never(), caller)?;
        }
    }
}

/// The state of a Condition.
fn condition_of(state: &mut State) -> &mut ConditionState {
    let State::Condition(cond) = state else {
        unreachable!("dispatched by execute")
    };
    cond
}
