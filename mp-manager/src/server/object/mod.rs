//! One server object: its state, and every operation on it.
//!
//! Each object has its own mutex and condition variable; the server's
//! table lock is taken only inside an object's lock (never the other way),
//! to adjust holds for the objects an item refers to. Blocking operations
//! wait on the condition variable in short slices, checking between slices
//! whether their client hung up (the wait is abandoned, nothing is taken)
//! and whether the server is stopping.
//!
//! The operations of each family of objects (the seams of [`Family`])
//! live in a module of their own; [`Object::execute`] hands each operation
//! to its family.

mod barrier;
mod condition;
mod event;
mod iterator;
mod lock;
mod map;
mod queue;
mod semaphore;
mod sequence;
mod shared;
mod value;

use std::time::Duration;

use mp_internal::Deadline;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::registry::Blueprint;
use crate::server::Caller;
use crate::wire::{Answer, Fault, Init, Item, ObjectId, ObjectKind, Op, SessionId, Wait};
use barrier::BarrierState;
use condition::ConditionState;
use iterator::Cursor;
use lock::LockState;
pub(crate) use lock::Owner;
use map::Map;
use queue::Queue;
use semaphore::Semaphore;
use sequence::Sequence;
use shared::SharedState;
use value::value_op;

/// How often a blocked operation checks on its client.
const SLICE: Duration = Duration::from_millis(100);

/// Why an operation ended without an answer.
#[derive(Debug)]
pub enum Stop {
    /// It failed: the client gets this fault.
    Fault(Fault),
    /// The client hung up while the operation waited: no reply, close.
    Abandon,
}

impl From<Fault> for Stop {
    fn from(fault: Fault) -> Stop {
        Stop::Fault(fault)
    }
}

type Outcome = Result<Answer, Stop>;

/// An object on the server: its state behind its own lock, and the
/// condition variable its blocked operations wait on.
pub(crate) struct Object {
    pub(crate) kind: ObjectKind,
    pub(crate) typeid: Option<String>,
    state: Mutex<State>,
    cond: Condvar,
}

/// The state of an object, by family.
enum State {
    Sequence(Sequence),
    Map(Map),
    Value(Item),
    Queue(Queue),
    Lock(LockState),
    Semaphore(Semaphore),
    Event(bool),
    Condition(ConditionState),
    Barrier(BarrierState),
    Shared(SharedState),
    Cursor(Cursor),
}

/// When an operation that may wait for `wait` gives up.
fn deadline_of(wait: Wait) -> Deadline {
    match wait {
        Wait::Now => Deadline::after(Duration::ZERO),
        Wait::Forever => Deadline::never(),
        Wait::For(timeout) => Deadline::after(timeout),
    }
}

fn refs_of<'a>(items: impl IntoIterator<Item = &'a Item>) -> Vec<ObjectId> {
    items
        .into_iter()
        .flat_map(|i| i.refs.iter().copied())
        .collect()
}

fn index(i: u64, len: usize) -> Result<usize, Fault> {
    if i < len as u64 {
        Ok(i as usize)
    } else {
        Err(Fault::IndexOutOfRange {
            index: i,
            len: len as u64,
        })
    }
}

impl Object {
    /// A built-in object; the refs of its items must already be held.
    pub(crate) fn from_init(init: Init) -> Object {
        let kind = init.kind();
        let state = match init {
            Init::List(items) => State::Sequence(Sequence::new(items, false)),
            Init::Array(items) => State::Sequence(Sequence::new(items, true)),
            Init::Dict(pairs) | Init::Namespace(pairs) => State::Map(Map::from_pairs(pairs)),
            Init::Value(item) => State::Value(item),
            Init::Queue { maxsize, .. } => State::Queue(Queue::new(maxsize)),
            Init::Lock => State::Lock(LockState::new(false)),
            Init::RLock => State::Lock(LockState::new(true)),
            Init::Semaphore { value, bounded } => State::Semaphore(Semaphore::new(value, bounded)),
            Init::Event => State::Event(false),
            Init::Condition => State::Condition(ConditionState::new()),
            Init::Barrier { parties } => State::Barrier(BarrierState::new(parties)),
        };
        Object {
            kind,
            typeid: None,
            state: Mutex::new(state),
            cond: Condvar::new(),
        }
    }

    pub(crate) fn from_blueprint(blueprint: Blueprint, typeid: Option<String>) -> Object {
        match blueprint {
            Blueprint::Builtin(init) => {
                let mut object = Object::from_init(init);
                object.typeid = typeid;
                object
            }
            Blueprint::Shared {
                value,
                exposed,
                iterators,
                ..
            } => Object {
                kind: ObjectKind::Shared,
                typeid,
                state: Mutex::new(State::Shared(SharedState {
                    value,
                    exposed,
                    iterators,
                })),
                cond: Condvar::new(),
            },
        }
    }

    /// The refs held by the object's items (to release when it is freed).
    pub(crate) fn drain_refs(&self) -> Vec<ObjectId> {
        let mut state = self.state.lock();
        match &mut *state {
            State::Sequence(seq) => refs_of(std::mem::take(&mut seq.items).iter()),
            State::Map(map) => refs_of(map.clear().iter()),
            State::Value(item) => std::mem::take(&mut item.refs),
            State::Queue(q) => refs_of(std::mem::take(&mut q.items).iter()),
            State::Cursor(cursor) => vec![cursor.held],
            _ => Vec::new(),
        }
    }

    /// Releases what a vanished session owned (locks).
    pub(crate) fn session_ended(&self, session: SessionId) {
        let mut state = self.state.lock();
        let lock = match &mut *state {
            State::Lock(lock) => lock,
            State::Condition(cond) => &mut cond.lock,
            _ => return,
        };
        if lock.owner.is_some_and(|o| o.session == session) {
            lock.owner = None;
            lock.count = 0;
            self.cond.notify_all();
        }
    }

    /// Waits for a change, up to `deadline`. `Ok(true)`: the time is up.
    fn pause(
        &self,
        state: &mut MutexGuard<'_, State>,
        deadline: &Deadline,
        caller: &Caller<'_>,
    ) -> Result<bool, Stop> {
        let slice = match deadline.remaining() {
            None => SLICE,
            Some(left) if left.is_zero() => return Ok(true),
            Some(left) => left.min(SLICE),
        };
        let waiting = caller.waiting();
        self.cond.wait_for(state, slice);
        drop(waiting);
        if caller.gone() {
            return Err(Stop::Abandon);
        }
        Ok(false)
    }

    /// Runs `op`: the operations of each family of objects live in the
    /// module of that family.
    pub(crate) fn execute(&self, op: Op, caller: &Caller<'_>) -> Outcome {
        let family = op.family();
        let mut guard = self.state.lock();
        match (&mut *guard, family) {
            (State::Sequence(seq), Family::Sequence) => Ok(seq.execute(op, caller, self.kind)?),
            (State::Map(map), Family::Map) => Ok(map.execute(op, caller)?),
            (State::Value(item), Family::Value) => Ok(value_op(item, op, caller)?),
            (State::Queue(_), Family::Queue) => self.queue_op(&mut guard, op, caller),
            (State::Queue(_), Family::JoinableQueue) if self.kind == ObjectKind::JoinableQueue => {
                self.joinable_queue_op(&mut guard, op, caller)
            }
            (State::Lock(_) | State::Condition(_), Family::Lock) => {
                self.lock_op(&mut guard, op, caller)
            }
            (State::Condition(_), Family::Condition) => self.condition_op(&mut guard, op, caller),
            (State::Semaphore(_), Family::Semaphore) => self.semaphore_op(&mut guard, op, caller),
            (State::Event(_), Family::Event) => self.event_op(&mut guard, op, caller),
            (State::Barrier(_), Family::Barrier) => self.barrier_op(&mut guard, op, caller),
            (State::Shared(shared), Family::Method) => Ok(shared.call(op)?),
            (State::Cursor(cursor), Family::Iterator) => Ok(cursor.execute(op, caller)?),
            _ => Err(Fault::WrongKind {
                expected: family.describe().to_owned(),
                found: self.kind,
            }
            .into()),
        }
    }
}

/// What kind of object an operation is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Sequence,
    Map,
    Value,
    Queue,
    JoinableQueue,
    Lock,
    Semaphore,
    Event,
    Condition,
    Barrier,
    Method,
    Iterator,
}

impl Op {
    fn family(&self) -> Family {
        match self {
            Op::SeqPush(_)
            | Op::SeqExtend(_)
            | Op::SeqGet(_)
            | Op::SeqSet(..)
            | Op::SeqInsert(..)
            | Op::SeqPop(_)
            | Op::SeqRemove(_)
            | Op::SeqIndex(_)
            | Op::SeqCount(_)
            | Op::SeqLen
            | Op::SeqClear
            | Op::SeqReverse
            | Op::SeqSlice(..)
            | Op::SeqSnapshot
            | Op::SeqReplace { .. }
            | Op::SeqPermute { .. }
            | Op::SeqArith(..) => Family::Sequence,
            Op::MapInsert(..)
            | Op::MapSet(..)
            | Op::MapGet(_)
            | Op::MapRemove(_)
            | Op::MapContains(_)
            | Op::MapKeys
            | Op::MapValues
            | Op::MapItems
            | Op::MapLen
            | Op::MapUpdate(_)
            | Op::MapSetDefault(..)
            | Op::MapClear
            | Op::MapPopItem
            | Op::MapCompareSwap { .. }
            | Op::MapArith(..) => Family::Map,
            Op::ValGet
            | Op::ValSet(_)
            | Op::ValSwap(_)
            | Op::ValCompareSwap { .. }
            | Op::ValArith(_) => Family::Value,
            Op::QPut(..) | Op::QGet(_) | Op::QSize | Op::QMaxSize | Op::QShutdown { .. } => {
                Family::Queue
            }
            Op::QTaskDone | Op::QJoin(_) => Family::JoinableQueue,
            Op::LockAcquire { .. } | Op::LockRelease { .. } | Op::LockLocked => Family::Lock,
            Op::SemAcquire(_) | Op::SemRelease(_) | Op::SemValue => Family::Semaphore,
            Op::EvSet | Op::EvClear | Op::EvIsSet | Op::EvWait(_) => Family::Event,
            Op::CondWait { .. } | Op::CondNotify { .. } => Family::Condition,
            Op::BarWait(_)
            | Op::BarReset
            | Op::BarAbort
            | Op::BarParties
            | Op::BarWaiting
            | Op::BarBroken => Family::Barrier,
            Op::Method { .. } => Family::Method,
            Op::Iterate { .. } | Op::IterateMethod { .. } | Op::IterNext(_) => Family::Iterator,
        }
    }
}

impl Family {
    /// The objects that take such operations (for wrong-kind errors).
    fn describe(self) -> &'static str {
        match self {
            Family::Sequence => "a list or an array",
            Family::Map => "a dict or a namespace",
            Family::Value => "a Value",
            Family::Queue => "a queue",
            Family::JoinableQueue => "a JoinableQueue",
            Family::Lock => "a Lock, an RLock or a Condition",
            Family::Semaphore => "a Semaphore",
            Family::Event => "an Event",
            Family::Condition => "a Condition",
            Family::Barrier => "a Barrier",
            Family::Method => "a shared object",
            Family::Iterator => "an iteration",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_past_the_end_is_a_fault() {
        assert_eq!(index(2, 3).ok(), Some(2));
        assert!(matches!(
            index(3, 3),
            Err(Fault::IndexOutOfRange { index: 3, len: 3 })
        ));
    }
}
