//! Barriers: parties that wait for each other, generation by generation.

use std::collections::VecDeque;

use parking_lot::MutexGuard;

use super::{Object, Outcome, State, deadline_of};
use crate::server::Caller;
use crate::wire::{Answer, Fault, Op, Wait};

pub(super) struct BarrierState {
    parties: u64,
    count: u64,
    generation: u64,
    broken: bool,
    /// Generations ended by `reset` (their waiters see a broken barrier).
    resets: VecDeque<u64>,
}

impl BarrierState {
    pub(super) fn new(parties: u64) -> BarrierState {
        BarrierState {
            parties: parties.max(1),
            count: 0,
            generation: 0,
            broken: false,
            resets: VecDeque::new(),
        }
    }
}

impl Object {
    /// Runs an operation on a Barrier.
    pub(super) fn barrier_op(
        &self,
        guard: &mut MutexGuard<'_, State>,
        op: Op,
        caller: &Caller<'_>,
    ) -> Outcome {
        if let Op::BarWait(wait) = op {
            return self.barrier_wait(guard, wait, caller);
        }
        let bar = barrier_of(guard);
        match op {
            Op::BarReset => {
                if bar.count > 0 {
                    bar.resets.push_back(bar.generation);
                    if bar.resets.len() > 64 {
                        bar.resets.pop_front();
                    }
                    bar.generation += 1;
                }
                bar.count = 0;
                bar.broken = false;
                self.cond.notify_all();
                Ok(Answer::Unit)
            }
            Op::BarAbort => {
                bar.broken = true;
                self.cond.notify_all();
                Ok(Answer::Unit)
            }
            Op::BarParties => Ok(Answer::Count(bar.parties)),
            Op::BarWaiting => Ok(Answer::Count(if bar.broken { 0 } else { bar.count })),
            Op::BarBroken => Ok(Answer::Bool(bar.broken)),
            _ => unreachable!("dispatched by execute"),
        }
    }

    fn barrier_wait(
        &self,
        guard: &mut MutexGuard<'_, State>,
        wait: Wait,
        caller: &Caller<'_>,
    ) -> Outcome {
        let bar = barrier_of(guard);
        if bar.broken {
            return Err(Fault::BrokenBarrier.into());
        }
        let index = bar.count;
        let generation = bar.generation;
        bar.count += 1;
        if bar.count == bar.parties {
            bar.count = 0;
            bar.generation += 1;
            self.cond.notify_all();
            return Ok(Answer::Count(index));
        }
        let deadline = deadline_of(wait);
        loop {
            let paused = self.pause(guard, &deadline, caller);
            let bar = barrier_of(guard);
            if bar.generation != generation {
                return if bar.resets.contains(&generation) {
                    Err(Fault::BrokenBarrier.into())
                } else {
                    Ok(Answer::Count(index))
                };
            }
            if bar.broken {
                return Err(Fault::BrokenBarrier.into());
            }
            match paused {
                Ok(false) => {}
                // A waiter that times out or vanishes breaks the barrier, so
                // the others do not wait for it forever.
                Ok(true) => {
                    bar.broken = true;
                    self.cond.notify_all();
                    return Err(Fault::BrokenBarrier.into());
                }
                Err(stop) => {
                    bar.broken = true;
                    self.cond.notify_all();
                    return Err(stop);
                }
            }
        }
    }
}

/// The state of a Barrier.
fn barrier_of(state: &mut State) -> &mut BarrierState {
    let State::Barrier(bar) = state else {
        unreachable!("dispatched by execute")
    };
    bar
}
