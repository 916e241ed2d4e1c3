//! Values (`Manager::value`): one item.

use crate::number;
use crate::server::Caller;
use crate::wire::{Answer, Fault, Item, Op};

pub(super) fn value_op(value: &mut Item, op: Op, caller: &Caller<'_>) -> Result<Answer, Fault> {
    Ok(match op {
        Op::ValGet => {
            caller.grant(&value.refs);
            Answer::Item(value.clone())
        }
        Op::ValSet(item) => {
            caller.hold(&item.refs)?;
            let old = std::mem::replace(value, item);
            caller.release(old.refs);
            Answer::Unit
        }
        Op::ValSwap(item) => {
            caller.hold(&item.refs)?;
            let old = std::mem::replace(value, item);
            caller.grant(&old.refs);
            caller.release(old.refs.iter().copied());
            Answer::Item(old)
        }
        Op::ValCompareSwap { expected, new } => {
            if value.bytes != expected {
                caller.grant(&value.refs);
                return Ok(Answer::Swapped(Err(Some(value.clone()))));
            }
            caller.hold(&new.refs)?;
            let old = std::mem::replace(value, new);
            caller.grant(&old.refs);
            caller.release(old.refs.iter().copied());
            Answer::Swapped(Ok(Some(old)))
        }
        Op::ValArith(arith) => {
            let (old, new) = number::apply(Some(&value.bytes), &arith)?;
            value.bytes = new;
            Answer::Item(Item {
                bytes: old,
                refs: Vec::new(),
            })
        }
        _ => unreachable!("dispatched by execute"),
    })
}
