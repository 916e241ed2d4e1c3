//! The pickle encoder: writes a [`PyValue`] as protocol 4 (Python 3.4+
//! loads it), without framing or memo (a `PyValue` is a tree, so nothing
//! is shared), refusing globals that are not on the allow-list.

use crate::allow::AllowList;
use crate::error::{Error, ErrorKind, Result};
use crate::opcodes::*;
use crate::value::{Construct, Global, PyObject, PyValue};

/// How deep a value may nest when encoded (the encoder recurses).
pub const MAX_ENCODE_DEPTH: usize = 1000;

pub(crate) struct Encoder<'a> {
    pub(crate) out: Vec<u8>,
    allow: &'a AllowList,
    /// The next memo slot free for a spliced [`Pickled`](crate::Pickled).
    pub(crate) memo_next: u32,
}

/// Encodes `value` as one complete pickle.
pub(crate) fn encode_with(value: &PyValue, allow: &AllowList) -> Result<Vec<u8>> {
    let mut encoder = Encoder {
        out: Vec::with_capacity(64),
        allow,
        memo_next: 0,
    };
    encoder.out.extend_from_slice(&[PROTO, 4]);
    encoder.value(value, 0)?;
    encoder.out.push(STOP);
    Ok(encoder.out)
}

impl Encoder<'_> {
    fn counted(&mut self, short: u8, long: u8, long8: u8, payload: &[u8]) {
        let len = payload.len();
        if len < 256 {
            self.out.extend_from_slice(&[short, len as u8]);
        } else if let Ok(len) = u32::try_from(len) {
            self.out.push(long);
            self.out.extend_from_slice(&len.to_le_bytes());
        } else {
            self.out.push(long8);
            self.out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.out.extend_from_slice(payload);
    }

    fn str(&mut self, s: &str) {
        self.counted(SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        if let Ok(b) = u8::try_from(v) {
            self.out.extend_from_slice(&[BININT1, b]);
        } else if let Ok(w) = u16::try_from(v) {
            self.out.push(BININT2);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(i) = i32::try_from(v) {
            self.out.push(BININT);
            self.out.extend_from_slice(&i.to_le_bytes());
        } else {
            let bytes = crate::value::BigInt::from_i128(v.into());
            self.long(bytes.to_le_bytes());
        }
    }

    fn long(&mut self, le: &[u8]) {
        if let Ok(len) = u8::try_from(le.len()) {
            self.out.extend_from_slice(&[LONG1, len]);
        } else {
            // A Python int of 2^31 bytes is beyond any message; LONG4's
            // length is a signed 32-bit count.
            self.out.push(LONG4);
            self.out.extend_from_slice(&(le.len() as u32).to_le_bytes());
        }
        self.out.extend_from_slice(le);
    }

    fn global(&mut self, global: &Global) -> Result<()> {
        if !self.allow.allows(&global.module, &global.name) {
            return Err(Error::forbidden(&global.module, &global.name));
        }
        self.str(&global.module);
        self.str(&global.name);
        self.out.push(STACK_GLOBAL);
        Ok(())
    }

    fn items(&mut self, items: &[PyValue], depth: usize) -> Result<()> {
        for item in items {
            self.value(item, depth)?;
        }
        Ok(())
    }

    fn tuple(&mut self, items: &[PyValue], depth: usize) -> Result<()> {
        match items.len() {
            0 => self.out.push(EMPTY_TUPLE),
            1..=3 => {
                self.items(items, depth)?;
                self.out.push(TUPLE1 + items.len() as u8 - 1);
            }
            _ => {
                self.out.push(MARK);
                self.items(items, depth)?;
                self.out.push(TUPLE);
            }
        }
        Ok(())
    }

    fn pairs(&mut self, pairs: &[(PyValue, PyValue)], depth: usize) -> Result<()> {
        self.out.push(EMPTY_DICT);
        if !pairs.is_empty() {
            self.out.push(MARK);
            for (k, v) in pairs {
                self.value(k, depth)?;
                self.value(v, depth)?;
            }
            self.out.push(SETITEMS);
        }
        Ok(())
    }

    fn object(&mut self, object: &PyObject, depth: usize) -> Result<()> {
        self.global(&object.class)?;
        self.tuple(&object.args, depth)?;
        match object.construct {
            Construct::Call if object.kwargs.is_empty() => self.out.push(REDUCE),
            Construct::Call => {
                return Err(ErrorKind::Serde(format!(
                    "{}: a call (REDUCE) takes no keyword arguments; use Construct::NewEx",
                    object.class
                ))
                .into());
            }
            Construct::New if object.kwargs.is_empty() => self.out.push(NEWOBJ),
            Construct::NewEx | Construct::New => {
                self.pairs(&object.kwargs, depth)?;
                self.out.push(NEWOBJ_EX);
            }
        }
        if let Some(state) = &object.state {
            self.value(state, depth)?;
            self.out.push(BUILD);
        }
        Ok(())
    }

    pub(crate) fn value(&mut self, value: &PyValue, depth: usize) -> Result<()> {
        if depth >= MAX_ENCODE_DEPTH {
            return Err(ErrorKind::TooDeep {
                limit: MAX_ENCODE_DEPTH,
            }
            .into());
        }
        let depth = depth + 1;
        match value {
            PyValue::None => self.out.push(NONE),
            PyValue::Bool(true) => self.out.push(NEWTRUE),
            PyValue::Bool(false) => self.out.push(NEWFALSE),
            PyValue::Int(v) => self.int(*v),
            PyValue::BigInt(b) => self.long(b.to_le_bytes()),
            PyValue::Float(f) => {
                self.out.push(BINFLOAT);
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            PyValue::Str(s) => self.str(s),
            PyValue::Bytes(b) => self.counted(SHORT_BINBYTES, BINBYTES, BINBYTES8, b),
            PyValue::ByteArray(b) => {
                // Protocol 4 has no bytearray opcode: `bytearray(b'...')`,
                // as CPython writes it.
                self.global(&Global::new("builtins", "bytearray"))?;
                self.counted(SHORT_BINBYTES, BINBYTES, BINBYTES8, b);
                self.out.extend_from_slice(&[TUPLE1, REDUCE]);
            }
            PyValue::Tuple(items) => self.tuple(items, depth)?,
            PyValue::List(items) => {
                self.out.push(EMPTY_LIST);
                if !items.is_empty() {
                    self.out.push(MARK);
                    self.items(items, depth)?;
                    self.out.push(APPENDS);
                }
            }
            PyValue::Dict(pairs) => self.pairs(pairs, depth)?,
            PyValue::Set(items) => {
                self.out.push(EMPTY_SET);
                if !items.is_empty() {
                    self.out.push(MARK);
                    self.items(items, depth)?;
                    self.out.push(ADDITEMS);
                }
            }
            PyValue::FrozenSet(items) => {
                self.out.push(MARK);
                self.items(items, depth)?;
                self.out.push(FROZENSET);
            }
            PyValue::Global(g) => self.global(g)?,
            PyValue::Object(o) => self.object(o, depth)?,
            PyValue::Pickled(p) => p.splice_into(self)?,
        }
        Ok(())
    }
}
