//! Iterations: the first batch of a list, dict or shared iterator, and the
//! cursor object that serves the rest a batch per request.
//!
//! What a cursor sees of changes made while it iterates:
//!
//! - a list or an array: each batch is read at once; between batches the
//!   cursor keeps a position, as Python's list iterator does (items
//!   appended before it reaches the end are seen; an insertion or removal
//!   before the position shifts what comes next);
//! - a dict or a namespace: entries come in insertion order, each at most
//!   once; an entry removed before the cursor reaches it is not seen, one
//!   added meanwhile is (Python raises `RuntimeError` instead);
//! - a shared object's iterator: whatever that iterator yields.

use std::iter::Peekable;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use mp_internal::panic_message;
use parking_lot::{Condvar, Mutex};

use super::{Object, State, refs_of};
use crate::error::RemoteError;
use crate::registry::SharedIter;
use crate::server::Caller;
use crate::wire::{Answer, Batch, Fault, IterOver, ObjectId, ObjectKind, Op};

/// The most entries a batch may hold.
const MAX_BATCH: u32 = 4096;

pub(super) struct Cursor {
    source: Source,
    /// The iterated object, which the cursor holds while it lives.
    pub(super) held: ObjectId,
}

enum Source {
    Sequence {
        object: Arc<Object>,
        next: usize,
    },
    Map {
        object: Arc<Object>,
        over: IterOver,
        next: u64,
    },
    Shared(Peekable<SharedIter>),
}

impl Object {
    /// Runs `Iterate`/`IterateMethod` on `object` (object `id`): the first
    /// batch, and the cursor for the rest unless that was all.
    pub(crate) fn start_iteration(
        object: &Arc<Object>,
        id: ObjectId,
        op: Op,
        caller: &Caller<'_>,
    ) -> Result<(Batch, Option<Object>), Fault> {
        let (mut source, batch) = match op {
            Op::Iterate { over, batch } => {
                let source = match (&*object.state.lock(), over) {
                    (State::Sequence(_), IterOver::Items) => Source::Sequence {
                        object: object.clone(),
                        next: 0,
                    },
                    (State::Map(_), over) => Source::Map {
                        object: object.clone(),
                        over,
                        next: 0,
                    },
                    (State::Sequence(_), _) => {
                        return Err(wrong_kind("a dict or a namespace", object));
                    }
                    _ => {
                        return Err(wrong_kind(
                            "a list, an array, a dict or a namespace",
                            object,
                        ));
                    }
                };
                (source, batch)
            }
            Op::IterateMethod { name, args, batch } => {
                let iter = match &mut *object.state.lock() {
                    State::Shared(shared) => shared.iterate(&name, &args)?,
                    _ => return Err(wrong_kind("a shared object", object)),
                };
                (Source::Shared(iter.peekable()), batch)
            }
            _ => unreachable!("dispatched by the server"),
        };
        let first = source.next_batch(batch, caller)?;
        let cursor = (!first.done).then(|| Object {
            kind: ObjectKind::Iterator,
            typeid: None,
            state: Mutex::new(State::Cursor(Cursor { source, held: id })),
            cond: Condvar::new(),
        });
        Ok((first, cursor))
    }
}

fn wrong_kind(expected: &str, object: &Object) -> Fault {
    Fault::WrongKind {
        expected: expected.to_owned(),
        found: object.kind,
    }
}

impl Cursor {
    /// Runs an operation on a cursor.
    pub(super) fn execute(&mut self, op: Op, caller: &Caller<'_>) -> Result<Answer, Fault> {
        match op {
            Op::IterNext(batch) => self.source.next_batch(batch, caller).map(Answer::Batch),
            _ => Err(Fault::BadRequest(
                "an iteration only takes IterNext".to_owned(),
            )),
        }
    }
}

impl Source {
    /// The next at most `batch` entries (at least one), and whether they are the last.
    fn next_batch(&mut self, batch: u32, caller: &Caller<'_>) -> Result<Batch, Fault> {
        let batch = batch.clamp(1, MAX_BATCH) as usize;
        let mut out = Batch::default();
        match self {
            Source::Sequence { object, next } => {
                let state = object.state.lock();
                let State::Sequence(seq) = &*state else {
                    unreachable!("a sequence stays a sequence")
                };
                let start = (*next).min(seq.items.len());
                let end = (start + batch).min(seq.items.len());
                out.items = seq.items[start..end].to_vec();
                caller.grant(&refs_of(&out.items));
                *next = end;
                out.done = end >= seq.items.len();
            }
            Source::Map { object, over, next } => {
                let state = object.state.lock();
                let State::Map(map) = &*state else {
                    unreachable!("a map stays a map")
                };
                for (seq, key, item) in map.entries_from(*next).take(batch) {
                    if *over != IterOver::Values {
                        out.keys.push(key.clone().into());
                    }
                    if *over != IterOver::Keys {
                        out.items.push(item.clone());
                    }
                    *next = seq + 1;
                }
                caller.grant(&refs_of(&out.items));
                out.done = map.entries_from(*next).next().is_none();
            }
            Source::Shared(iter) => {
                let pulled = catch_unwind(AssertUnwindSafe(|| {
                    let items: Result<Vec<Vec<u8>>, RemoteError> =
                        iter.by_ref().take(batch).collect();
                    (items, iter.peek().is_none())
                }));
                let (items, done) = pulled.map_err(|panic| {
                    Fault::Remote(RemoteError::new(format!(
                        "the iterator panicked: {}",
                        panic_message(&*panic)
                    )))
                })?;
                out.items = items
                    .map_err(Fault::Remote)?
                    .into_iter()
                    .map(|bytes| crate::wire::Item {
                        bytes,
                        refs: Vec::new(),
                    })
                    .collect();
                out.done = done;
            }
        }
        Ok(out)
    }
}
