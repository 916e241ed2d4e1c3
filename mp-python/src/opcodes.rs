//! Pickle opcodes and a reader that splits a pickle into them, checking
//! every declared length against the bytes present (nothing is allocated
//! from a length the input does not back).

use crate::error::{Error, ErrorKind, Result};

pub(crate) const MARK: u8 = b'(';
pub(crate) const STOP: u8 = b'.';
pub(crate) const POP: u8 = b'0';
pub(crate) const POP_MARK: u8 = b'1';
pub(crate) const DUP: u8 = b'2';
pub(crate) const FLOAT: u8 = b'F';
pub(crate) const INT: u8 = b'I';
pub(crate) const BININT: u8 = b'J';
pub(crate) const BININT1: u8 = b'K';
pub(crate) const LONG: u8 = b'L';
pub(crate) const BININT2: u8 = b'M';
pub(crate) const NONE: u8 = b'N';
pub(crate) const PERSID: u8 = b'P';
pub(crate) const BINPERSID: u8 = b'Q';
pub(crate) const REDUCE: u8 = b'R';
pub(crate) const STRING: u8 = b'S';
pub(crate) const BINSTRING: u8 = b'T';
pub(crate) const SHORT_BINSTRING: u8 = b'U';
pub(crate) const UNICODE: u8 = b'V';
pub(crate) const BINUNICODE: u8 = b'X';
pub(crate) const APPEND: u8 = b'a';
pub(crate) const BUILD: u8 = b'b';
pub(crate) const GLOBAL: u8 = b'c';
pub(crate) const DICT: u8 = b'd';
pub(crate) const EMPTY_DICT: u8 = b'}';
pub(crate) const APPENDS: u8 = b'e';
pub(crate) const GET: u8 = b'g';
pub(crate) const BINGET: u8 = b'h';
pub(crate) const INST: u8 = b'i';
pub(crate) const LONG_BINGET: u8 = b'j';
pub(crate) const LIST: u8 = b'l';
pub(crate) const EMPTY_LIST: u8 = b']';
pub(crate) const OBJ: u8 = b'o';
pub(crate) const PUT: u8 = b'p';
pub(crate) const BINPUT: u8 = b'q';
pub(crate) const LONG_BINPUT: u8 = b'r';
pub(crate) const SETITEM: u8 = b's';
pub(crate) const TUPLE: u8 = b't';
pub(crate) const EMPTY_TUPLE: u8 = b')';
pub(crate) const SETITEMS: u8 = b'u';
pub(crate) const BINFLOAT: u8 = b'G';
pub(crate) const PROTO: u8 = 0x80;
pub(crate) const NEWOBJ: u8 = 0x81;
pub(crate) const EXT1: u8 = 0x82;
pub(crate) const EXT2: u8 = 0x83;
pub(crate) const EXT4: u8 = 0x84;
pub(crate) const TUPLE1: u8 = 0x85;
pub(crate) const TUPLE2: u8 = 0x86;
pub(crate) const TUPLE3: u8 = 0x87;
pub(crate) const NEWTRUE: u8 = 0x88;
pub(crate) const NEWFALSE: u8 = 0x89;
pub(crate) const LONG1: u8 = 0x8a;
pub(crate) const LONG4: u8 = 0x8b;
pub(crate) const BINBYTES: u8 = b'B';
pub(crate) const SHORT_BINBYTES: u8 = b'C';
pub(crate) const SHORT_BINUNICODE: u8 = 0x8c;
pub(crate) const BINUNICODE8: u8 = 0x8d;
pub(crate) const BINBYTES8: u8 = 0x8e;
pub(crate) const EMPTY_SET: u8 = 0x8f;
pub(crate) const ADDITEMS: u8 = 0x90;
pub(crate) const FROZENSET: u8 = 0x91;
pub(crate) const NEWOBJ_EX: u8 = 0x92;
pub(crate) const STACK_GLOBAL: u8 = 0x93;
pub(crate) const MEMOIZE: u8 = 0x94;
pub(crate) const FRAME: u8 = 0x95;
pub(crate) const BYTEARRAY8: u8 = 0x96;
pub(crate) const NEXT_BUFFER: u8 = 0x97;
pub(crate) const READONLY_BUFFER: u8 = 0x98;

/// The operand of one opcode, borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    /// No operand.
    None,
    /// A one-byte operand (`BININT1`, `BINGET`, `PROTO`, ...).
    U8(u8),
    /// `BININT2`.
    U16(u16),
    /// `BININT`.
    I32(i32),
    /// `LONG_BINGET`, `LONG_BINPUT`.
    U32(u32),
    /// `FRAME`.
    U64(u64),
    /// `BINFLOAT`.
    F64(f64),
    /// A counted payload: string, bytes or `LONG1`/`LONG4` digits.
    Bytes(&'a [u8]),
    /// A newline-terminated text operand (protocol 0), without the newline.
    Line(&'a [u8]),
    /// `GLOBAL`'s two lines: module and name.
    Lines(&'a [u8], &'a [u8]),
}

/// One opcode: its byte, operand, and where it sits in the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op<'a> {
    pub(crate) code: u8,
    pub(crate) arg: Arg<'a>,
    /// Offset of the opcode byte.
    pub(crate) start: usize,
    /// Offset just past the operand.
    pub(crate) end: usize,
}

/// Splits a pickle into opcodes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let remaining = self.input.len() - self.pos;
        if n > remaining {
            return Err(ErrorKind::Truncated.into());
        }
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn counted(&mut self, len: u64) -> Result<Arg<'a>> {
        // A length beyond the input can never be satisfied; compare before
        // converting so a 2^64 length does not wrap on 32-bit targets.
        if len > (self.input.len() - self.pos) as u64 {
            return Err(ErrorKind::Truncated.into());
        }
        Ok(Arg::Bytes(self.take(len as usize)?))
    }

    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = &self.input[self.pos..];
        let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
            return Err(ErrorKind::Truncated.into());
        };
        self.pos += newline + 1;
        Ok(&rest[..newline])
    }

    /// The next opcode; `Truncated` at the end of the input.
    pub(crate) fn next_op(&mut self) -> Result<Op<'a>> {
        let start = self.pos;
        let [code] = self.array::<1>()?;
        let arg = match code {
            MARK | STOP | POP | POP_MARK | DUP | NONE | BINPERSID | REDUCE | APPEND | BUILD
            | DICT | EMPTY_DICT | APPENDS | LIST | EMPTY_LIST | OBJ | SETITEM | TUPLE
            | EMPTY_TUPLE | SETITEMS | NEWOBJ | TUPLE1 | TUPLE2 | TUPLE3 | NEWTRUE | NEWFALSE
            | EMPTY_SET | ADDITEMS | FROZENSET | NEWOBJ_EX | STACK_GLOBAL | MEMOIZE
            | NEXT_BUFFER | READONLY_BUFFER => Arg::None,
            BININT1 | BINGET | BINPUT | PROTO | EXT1 => Arg::U8(self.array::<1>()?[0]),
            BININT2 | EXT2 => Arg::U16(u16::from_le_bytes(self.array()?)),
            BININT => Arg::I32(i32::from_le_bytes(self.array()?)),
            LONG_BINGET | LONG_BINPUT | EXT4 => Arg::U32(u32::from_le_bytes(self.array()?)),
            FRAME => Arg::U64(u64::from_le_bytes(self.array()?)),
            BINFLOAT => Arg::F64(f64::from_be_bytes(self.array()?)),
            SHORT_BINSTRING | SHORT_BINBYTES | SHORT_BINUNICODE | LONG1 => {
                let [len] = self.array::<1>()?;
                self.counted(u64::from(len))?
            }
            BINSTRING => {
                let len = i32::from_le_bytes(self.array()?);
                let Ok(len) = u64::try_from(len) else {
                    return Err(Error::malformed(start, "negative BINSTRING length"));
                };
                self.counted(len)?
            }
            BINUNICODE | BINBYTES => {
                let len = u32::from_le_bytes(self.array()?);
                self.counted(u64::from(len))?
            }
            LONG4 => {
                let len = i32::from_le_bytes(self.array()?);
                let Ok(len) = u64::try_from(len) else {
                    return Err(Error::malformed(start, "negative LONG4 length"));
                };
                self.counted(len)?
            }
            BINUNICODE8 | BINBYTES8 | BYTEARRAY8 => {
                let len = u64::from_le_bytes(self.array()?);
                self.counted(len)?
            }
            FLOAT | INT | LONG | PERSID | STRING | UNICODE | GET | PUT => Arg::Line(self.line()?),
            GLOBAL | INST => {
                let module = self.line()?;
                Arg::Lines(module, self.line()?)
            }
            other => {
                return Err(ErrorKind::UnsupportedOpcode {
                    opcode: other,
                    offset: start,
                }
                .into());
            }
        };
        Ok(Op {
            code,
            arg,
            start,
            end: self.pos,
        })
    }
}
