//! Lists and arrays: a vector of items with a change counter.

use super::{index, refs_of};
use crate::number;
use crate::server::Cx;
use crate::wire::{Answer, Fault, Item, ObjectKind, Op};

/// A list or an array (an array has a fixed length).
pub(super) struct Seq {
    pub(super) items: Vec<Item>,
    /// Counts changes, so a read-modify-write can tell it was overtaken.
    version: u64,
    fixed: bool,
}

impl Seq {
    pub(super) fn new(items: Vec<Item>, fixed: bool) -> Seq {
        Seq {
            items,
            version: 0,
            fixed,
        }
    }
}

pub(super) fn seq_op(
    seq: &mut Seq,
    op: Op,
    cx: &Cx<'_>,
    kind: ObjectKind,
) -> Result<Answer, Fault> {
    let resizes = matches!(
        op,
        Op::SeqPush(_)
            | Op::SeqExtend(_)
            | Op::SeqInsert(..)
            | Op::SeqPop(_)
            | Op::SeqRemove(_)
            | Op::SeqClear
    );
    if seq.fixed && resizes {
        return Err(Fault::WrongKind {
            expected: "a list (arrays have a fixed length)".to_owned(),
            found: kind,
        });
    }
    let answer = match op {
        Op::SeqPush(item) => {
            cx.hold(&item.refs)?;
            seq.items.push(item);
            Answer::Unit
        }
        Op::SeqExtend(items) => {
            cx.hold(&refs_of(&items))?;
            seq.items.extend(items);
            Answer::Unit
        }
        Op::SeqGet(i) => {
            let item = seq.items[index(i, seq.items.len())?].clone();
            cx.grant(&item.refs);
            return Ok(Answer::Item(item));
        }
        Op::SeqSet(i, item) => {
            let i = index(i, seq.items.len())?;
            cx.hold(&item.refs)?;
            let old = std::mem::replace(&mut seq.items[i], item);
            cx.release(old.refs);
            Answer::Unit
        }
        Op::SeqInsert(i, item) => {
            cx.hold(&item.refs)?;
            let i = (i.min(seq.items.len() as u64)) as usize;
            seq.items.insert(i, item);
            Answer::Unit
        }
        Op::SeqPop(at) => {
            let item = match at {
                None => seq.items.pop(),
                Some(i) => Some(seq.items.remove(index(i, seq.items.len())?)),
            };
            if let Some(item) = &item {
                cx.grant(&item.refs);
                cx.release(item.refs.iter().copied());
            }
            Answer::MaybeItem(item)
        }
        Op::SeqRemove(bytes) => match seq.items.iter().position(|i| i.bytes == bytes) {
            Some(i) => {
                let item = seq.items.remove(i);
                cx.release(item.refs);
                Answer::Bool(true)
            }
            None => return Ok(Answer::Bool(false)),
        },
        Op::SeqIndex(bytes) => {
            return Ok(match seq.items.iter().position(|i| i.bytes == bytes) {
                Some(i) => Answer::Count(i as u64),
                None => Answer::Unit,
            });
        }
        Op::SeqCount(bytes) => {
            let n = seq.items.iter().filter(|i| i.bytes == bytes).count();
            return Ok(Answer::Count(n as u64));
        }
        Op::SeqLen => return Ok(Answer::Count(seq.items.len() as u64)),
        Op::SeqClear => {
            let items = std::mem::take(&mut seq.items);
            cx.release(refs_of(&items));
            Answer::Unit
        }
        Op::SeqReverse => {
            seq.items.reverse();
            Answer::Unit
        }
        Op::SeqSlice(start, end) => {
            let len = seq.items.len() as u64;
            let (start, end) = (start.min(len) as usize, end.min(len) as usize);
            let items = seq.items[start..end.max(start)].to_vec();
            cx.grant(&refs_of(&items));
            return Ok(Answer::Items(items));
        }
        Op::SeqSnapshot => {
            let items = seq.items.clone();
            cx.grant(&refs_of(&items));
            return Ok(Answer::Versioned {
                version: seq.version,
                items,
            });
        }
        Op::SeqReplace { version, items } => {
            if version != seq.version {
                return Ok(Answer::Bool(false));
            }
            if seq.fixed && items.len() != seq.items.len() {
                return Err(Fault::WrongValue(format!(
                    "an array of length {} cannot change length",
                    seq.items.len()
                )));
            }
            cx.hold(&refs_of(&items))?;
            let old = std::mem::replace(&mut seq.items, items);
            cx.release(refs_of(&old));
            Answer::Bool(true)
        }
        Op::SeqPermute { version, perm } => {
            if version != seq.version {
                return Ok(Answer::Bool(false));
            }
            let n = seq.items.len();
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
            let mut old: Vec<Option<Item>> = std::mem::take(&mut seq.items)
                .into_iter()
                .map(Some)
                .collect();
            seq.items = perm
                .iter()
                .map(|&p| old[p as usize].take().expect("each index once"))
                .collect();
            Answer::Bool(true)
        }
        Op::SeqArith(i, arith) => {
            let i = index(i, seq.items.len())?;
            let (old, new) = number::apply(Some(&seq.items[i].bytes), &arith)?;
            seq.items[i].bytes = new;
            Answer::Item(Item {
                bytes: old,
                refs: Vec::new(),
            })
        }
        _ => unreachable!("dispatched by execute"),
    };
    seq.version += 1;
    Ok(answer)
}
