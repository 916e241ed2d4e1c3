//! Opaque mode: a pickle checked as data against the allow-list but kept as
//! its original bytes, so a value mp only relays is re-sent unchanged.

use std::fmt;

use crate::codec::Codec;
use crate::encode::Encoder;
use crate::error::{Error, Result};
use crate::opcodes::*;
use crate::value::PyValue;

/// A pickle kept as its original bytes after a full decode proved it is
/// data under the codec's allow-list and limits (mp never relays bytes it
/// has not decoded as data).
///
/// Sent alone, [`as_bytes`](Pickled::as_bytes) is byte-for-byte what
/// arrived. Placed inside another value ([`PyValue::Pickled`]) and encoded,
/// its opcodes are copied as they came, without its `PROTO`, `FRAME` and
/// `STOP`, and with memo slots renumbered if an earlier `Pickled` in the same
/// message used the memo; so a manager can answer `('#RETURN', relayed)`.
#[derive(Clone, PartialEq)]
pub struct Pickled {
    bytes: Vec<u8>,
}

impl Pickled {
    /// Checks `bytes` with `codec` (decoding it fully) and keeps them.
    pub fn new(bytes: Vec<u8>, codec: &Codec) -> Result<Pickled> {
        codec.decode(&bytes)?;
        Ok(Pickled { bytes })
    }

    /// Encodes `value` with `codec` and keeps the bytes.
    pub fn from_value(value: &PyValue, codec: &Codec) -> Result<Pickled> {
        Ok(Pickled {
            bytes: codec.encode(value)?,
        })
    }

    /// The pickle, exactly as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The pickle, exactly as received.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Decodes the kept bytes (again) with `codec`.
    pub fn decode(&self, codec: &Codec) -> Result<PyValue> {
        codec.decode(&self.bytes)
    }

    /// Copies the opcodes into `encoder`'s output, dropping `PROTO`,
    /// `FRAME` and `STOP`; memo slots move up by the slots already used.
    pub(crate) fn splice_into(&self, encoder: &mut Encoder<'_>) -> Result<()> {
        let base = encoder.memo_next;
        let mut reader = Reader::new(&self.bytes);
        let mut slots = std::collections::HashSet::new();
        let mut highest: Option<u32> = None;
        let shifted = |index: u32| {
            index
                .checked_add(base)
                .ok_or_else(|| Error::malformed(0, "memo index overflow"))
        };
        loop {
            let op = reader.next_op()?;
            let index = match (op.code, op.arg) {
                (PROTO | FRAME, _) => continue,
                (STOP, _) => break,
                (BINGET, Arg::U8(i)) | (BINPUT, Arg::U8(i)) => Some((op.code, u32::from(i))),
                (LONG_BINGET | LONG_BINPUT, Arg::U32(i)) => Some((op.code, i)),
                (GET | PUT, Arg::Line(line)) => {
                    let i = std::str::from_utf8(line)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .ok_or_else(|| Error::malformed(op.start, "bad memo index"))?;
                    Some((op.code, i))
                }
                (MEMOIZE, _) => Some((MEMOIZE, slots.len() as u32)),
                _ => None,
            };
            let Some((code, index)) = index else {
                encoder.out.extend_from_slice(&self.bytes[op.start..op.end]);
                continue;
            };
            let is_put = matches!(code, PUT | BINPUT | LONG_BINPUT | MEMOIZE);
            if is_put {
                slots.insert(index);
                highest = highest.max(Some(index));
            }
            if base == 0 {
                encoder.out.extend_from_slice(&self.bytes[op.start..op.end]);
            } else {
                encoder
                    .out
                    .push(if is_put { LONG_BINPUT } else { LONG_BINGET });
                encoder
                    .out
                    .extend_from_slice(&shifted(index)?.to_le_bytes());
            }
        }
        if let Some(highest) = highest {
            // Later splices start above every slot this one may have used.
            encoder.memo_next = shifted(highest)?
                .checked_add(1)
                .ok_or_else(|| Error::malformed(0, "memo index overflow"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pickled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pickled({} bytes)", self.bytes.len())
    }
}
