//! Values (`Manager::value`): one item.

use crate::number;
use crate::server::Cx;
use crate::wire::{Answer, Fault, Item, Op};

pub(super) fn value_op(value: &mut Item, op: Op, cx: &Cx<'_>) -> Result<Answer, Fault> {
    Ok(match op {
        Op::ValGet => {
            cx.grant(&value.refs);
            Answer::Item(value.clone())
        }
        Op::ValSet(item) => {
            cx.hold(&item.refs)?;
            let old = std::mem::replace(value, item);
            cx.release(old.refs);
            Answer::Unit
        }
        Op::ValSwap(item) => {
            cx.hold(&item.refs)?;
            let old = std::mem::replace(value, item);
            cx.grant(&old.refs);
            cx.release(old.refs.iter().copied());
            Answer::Item(old)
        }
        Op::ValCompareSwap { expected, new } => {
            if value.bytes != expected {
                cx.grant(&value.refs);
                return Ok(Answer::Swapped(Err(Some(value.clone()))));
            }
            cx.hold(&new.refs)?;
            let old = std::mem::replace(value, new);
            cx.grant(&old.refs);
            cx.release(old.refs.iter().copied());
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
