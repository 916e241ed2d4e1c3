//! Locks and reentrant locks (and the lock inside a condition): an owner
//! and a count.

use parking_lot::MutexGuard;

use super::{Deadline, Object, Outcome, State, Stop, deadline_of};
use crate::server::Caller;
use crate::wire::{Answer, Fault, Op, SessionId};

/// Who holds a lock: a thread of a client session.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(super) session: SessionId,
    thread: u64,
}

impl Owner {
    pub(crate) fn new(session: SessionId, thread: u64) -> Owner {
        Owner { session, thread }
    }
}

pub(super) struct LockState {
    pub(super) owner: Option<Owner>,
    pub(super) count: u64,
    reentrant: bool,
}

impl Object {
    /// Runs an operation on a lock (of a Lock, an RLock or a Condition).
    pub(super) fn lock_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        match op {
            Op::LockAcquire { thread, wait } => self
                .acquire(guard, caller.owner(thread), &deadline_of(wait), caller)
                .map(Answer::Bool),
            Op::LockRelease { thread } => {
                lock_of(guard).release(caller.owner(thread))?;
                self.cond.notify_all();
                Ok(Answer::Unit)
            }
            Op::LockLocked => Ok(Answer::Bool(lock_of(guard).owner.is_some())),
            _ => unreachable!("dispatched by execute"),
        }
    }

    fn acquire(
        &self,
        guard: &mut MutexGuard<'_, State>,
        me: Owner,
        deadline: &Deadline,
        caller: &Caller<'_>,
    ) -> Result<bool, Stop> {
        loop {
            if lock_of(guard).try_acquire(me) {
                return Ok(true);
            }
            if self.pause(guard, deadline, caller)? {
                return Ok(false);
            }
        }
    }
}

impl LockState {
    pub(super) fn new(reentrant: bool) -> LockState {
        LockState {
            owner: None,
            count: 0,
            reentrant,
        }
    }

    fn try_acquire(&mut self, me: Owner) -> bool {
        match self.owner {
            None => {
                self.owner = Some(me);
                self.count = 1;
                true
            }
            Some(owner) if self.reentrant && owner == me => {
                self.count += 1;
                true
            }
            Some(_) => false,
        }
    }

    pub(super) fn release(&mut self, me: Owner) -> Result<(), Fault> {
        match self.owner {
            None => Err(Fault::NotOwner),
            // Any thread may release a plain Lock (as in Python).
            Some(_) if !self.reentrant => {
                self.owner = None;
                self.count = 0;
                Ok(())
            }
            Some(owner) if owner == me => {
                self.count -= 1;
                if self.count == 0 {
                    self.owner = None;
                }
                Ok(())
            }
            Some(_) => Err(Fault::NotOwner),
        }
    }
}

/// The lock of a Lock, an RLock or a Condition.
fn lock_of(state: &mut State) -> &mut LockState {
    match state {
        State::Lock(lock) => lock,
        State::Condition(cond) => &mut cond.lock,
        _ => unreachable!("dispatched by execute"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_state_follows_python_lock_and_rlock() {
        let (a, b) = (Owner::new(1, 1), Owner::new(1, 2));
        let mut lock = LockState::new(false);
        assert!(lock.try_acquire(a));
        assert!(!lock.try_acquire(a), "a plain lock is not reentrant");
        assert!(
            lock.release(b).is_ok(),
            "any thread may release a plain lock"
        );
        assert!(matches!(lock.release(a), Err(Fault::NotOwner)));

        let mut rlock = LockState::new(true);
        assert!(rlock.try_acquire(a));
        assert!(rlock.try_acquire(a));
        assert!(!rlock.try_acquire(b));
        assert!(matches!(rlock.release(b), Err(Fault::NotOwner)));
        assert!(rlock.release(a).is_ok());
        assert!(rlock.owner.is_some());
        assert!(rlock.release(a).is_ok());
        assert!(rlock.owner.is_none());
    }
}
