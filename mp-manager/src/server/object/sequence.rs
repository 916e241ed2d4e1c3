//! Lists and arrays: a vector of items with a change counter.

use super::{index, refs_of};
use crate::number;
use crate::server::Caller;
use crate::wire::{Answer, Fault, Item, ObjectKind, Op};

/// A list or an array (an array has a fixed length).
pub(super) struct Sequence {
    pub(super) items: Vec<Item>,
    /// Counts changes, so a read-modify-write can tell it was overtaken.
    version: u64,
    fixed: bool,
}

impl Sequence {
    pub(super) fn new(items: Vec<Item>, fixed: bool) -> Sequence {
        Sequence {
            items,
            version: 0,
            fixed,
        }
    }

    /// Runs an operation on a list or an array.
    pub(super) fn execute(
        &mut self,
        op: Op,
        caller: &Caller<'_>,
        kind: ObjectKind,
    ) -> Result<Answer, Fault> {
        if self.fixed && resizes(&op) {
            return Err(Fault::WrongKind {
                expected: "a list (arrays have a fixed length)".to_owned(),
                found: kind,
            });
        }
        match op {
            Op::SeqGet(_)
            | Op::SeqIndex(_)
            | Op::SeqCount(_)
            | Op::SeqLen
            | Op::SeqSlice(..)
            | Op::SeqSnapshot => self.read(op, caller),
            Op::SeqRemove(bytes) => Ok(Answer::Bool(self.remove(&bytes, caller))),
            Op::SeqReplace { version, items } => {
                self.replace(version, items, caller).map(Answer::Bool)
            }
            Op::SeqPermute { version, perm } => self.permute(version, &perm).map(Answer::Bool),
            op => {
                let answer = self.edit(op, caller)?;
                self.version += 1;
                Ok(answer)
            }
        }
    }

    /// Answers an operation that changes nothing.
    fn read(&self, op: Op, caller: &Caller<'_>) -> Result<Answer, Fault> {
        Ok(match op {
            Op::SeqGet(i) => {
                let item = self.items[index(i, self.items.len())?].clone();
                caller.grant(&item.refs);
                Answer::Item(item)
            }
            Op::SeqIndex(bytes) => match self.items.iter().position(|i| i.bytes == bytes) {
                Some(i) => Answer::Count(i as u64),
                None => Answer::Unit,
            },
            Op::SeqCount(bytes) => {
                let n = self.items.iter().filter(|i| i.bytes == bytes).count();
                Answer::Count(n as u64)
            }
            Op::SeqLen => Answer::Count(self.items.len() as u64),
            Op::SeqSlice(start, end) => {
                let len = self.items.len() as u64;
                let (start, end) = (start.min(len) as usize, end.min(len) as usize);
                let items = self.items[start..end.max(start)].to_vec();
                caller.grant(&refs_of(&items));
                Answer::Items(items)
            }
            Op::SeqSnapshot => {
                let items = self.items.clone();
                caller.grant(&refs_of(&items));
                Answer::Versioned {
                    version: self.version,
                    items,
                }
            }
            _ => unreachable!("dispatched by execute"),
        })
    }

    /// Runs an operation that changes the items (the caller moves the
    /// version on).
    fn edit(&mut self, op: Op, caller: &Caller<'_>) -> Result<Answer, Fault> {
        Ok(match op {
            Op::SeqPush(item) => {
                caller.hold(&item.refs)?;
                self.items.push(item);
                Answer::Unit
            }
            Op::SeqExtend(items) => {
                caller.hold(&refs_of(&items))?;
                self.items.extend(items);
                Answer::Unit
            }
            Op::SeqSet(i, item) => {
                let i = index(i, self.items.len())?;
                caller.hold(&item.refs)?;
                let old = std::mem::replace(&mut self.items[i], item);
                caller.release(old.refs);
                Answer::Unit
            }
            Op::SeqInsert(i, item) => {
                caller.hold(&item.refs)?;
                let i = (i.min(self.items.len() as u64)) as usize;
                self.items.insert(i, item);
                Answer::Unit
            }
            Op::SeqPop(at) => {
                let item = match at {
                    None => self.items.pop(),
                    Some(i) => Some(self.items.remove(index(i, self.items.len())?)),
                };
                if let Some(item) = &item {
                    caller.grant(&item.refs);
                    caller.release(item.refs.iter().copied());
                }
                Answer::MaybeItem(item)
            }
            Op::SeqClear => {
                let items = std::mem::take(&mut self.items);
                caller.release(refs_of(&items));
                Answer::Unit
            }
            Op::SeqReverse => {
                self.items.reverse();
                Answer::Unit
            }
            Op::SeqArith(i, arith) => {
                let i = index(i, self.items.len())?;
                let (old, new) = number::apply(Some(&self.items[i].bytes), &arith)?;
                self.items[i].bytes = new;
                Answer::Item(Item {
                    bytes: old,
                    refs: Vec::new(),
                })
            }
            _ => unreachable!("dispatched by execute"),
        })
    }

    /// Removes the first item encoded as `bytes`; whether there was one.
    fn remove(&mut self, bytes: &[u8], caller: &Caller<'_>) -> bool {
        let Some(i) = self.items.iter().position(|i| i.bytes == bytes) else {
            return false;
        };
        let item = self.items.remove(i);
        caller.release(item.refs);
        self.version += 1;
        true
    }

    /// Replaces every item, unless the items changed since `version`.
    fn replace(
        &mut self,
        version: u64,
        items: Vec<Item>,
        caller: &Caller<'_>,
    ) -> Result<bool, Fault> {
        if version != self.version {
            return Ok(false);
        }
        if self.fixed && items.len() != self.items.len() {
            return Err(Fault::WrongValue(format!(
                "an array of length {} cannot change length",
                self.items.len()
            )));
        }
        caller.hold(&refs_of(&items))?;
        let old = std::mem::replace(&mut self.items, items);
        caller.release(refs_of(&old));
        self.version += 1;
        Ok(true)
    }

    /// Reorders the items (`new[i] = old[perm[i]]`), unless they changed
    /// since `version`.
    fn permute(&mut self, version: u64, perm: &[u32]) -> Result<bool, Fault> {
        if version != self.version {
            return Ok(false);
        }
        let n = self.items.len();
        let mut seen = vec![false; n];
        let valid = perm.len() == n
            && perm
                .iter()
                .all(|&p| (p as usize) < n && !std::mem::replace(&mut seen[p as usize], true));
        if !valid {
            return Err(Fault::BadRequest(
                "not a permutation of the list".to_owned(),
            ));
        }
        let mut old: Vec<Option<Item>> = std::mem::take(&mut self.items)
            .into_iter()
            .map(Some)
            .collect();
        self.items = perm
            .iter()
            .map(|&p| old[p as usize].take().expect("each index once"))
            .collect();
        self.version += 1;
        Ok(true)
    }
}

/// Whether `op` changes the length (which an array's cannot).
fn resizes(op: &Op) -> bool {
    matches!(
        op,
        Op::SeqPush(_)
            | Op::SeqExtend(_)
            | Op::SeqInsert(..)
            | Op::SeqPop(_)
            | Op::SeqRemove(_)
            | Op::SeqClear
    )
}
