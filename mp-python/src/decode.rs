//! The pickle decoder: a state machine over the opcodes that builds an
//! arena of nodes (so memo references share and later `APPENDS`/`SETITEMS`
//! mutate the shared node, as in CPython), then walks it once, without
//! recursion, into a [`PyValue`] tree under a depth limit and a size budget.

use std::collections::HashMap;

use crate::allow::{AllowList, Special, python3_module, special};
use crate::arena::{Arena, Id, Node};
use crate::error::{Error, ErrorKind, Result};
use crate::opcodes::*;
use crate::value::{BigInt, Construct, Global, PyValue};

/// Decodes `input` into plain data against `allow`, within the limits.
pub(crate) fn decode_with(
    input: &[u8],
    allow: &AllowList,
    max_depth: usize,
    budget: usize,
) -> Result<PyValue> {
    let mut machine = Machine {
        arena: Arena::new(budget),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        proto: 0,
        allow,
    };
    let root = machine.run(input)?;
    machine.arena.into_value(root, max_depth)
}

struct Machine<'a> {
    arena: Arena,
    stack: Vec<Id>,
    /// Stack lengths at each `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    proto: u8,
    allow: &'a AllowList,
}

fn utf8(bytes: &[u8], at: usize) -> Result<String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(Error::malformed(at, "invalid UTF-8 in a string")),
    }
}

fn text<T: std::str::FromStr>(line: &[u8], at: usize) -> Result<T> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::malformed(at, "bad number in a text opcode"))
}

fn int_from_le(bytes: &[u8]) -> PyValue {
    if bytes.is_empty() {
        return PyValue::Int(0);
    }
    if bytes.len() <= 8 {
        let fill = if bytes[bytes.len() - 1] & 0x80 != 0 {
            0xff
        } else {
            0
        };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        return PyValue::Int(i64::from_le_bytes(buf));
    }
    let big = BigInt::from_le_bytes(bytes);
    match big.to_i128().and_then(|v| i64::try_from(v).ok()) {
        Some(v) => PyValue::Int(v),
        None => PyValue::BigInt(big),
    }
}

impl Machine<'_> {
    fn run(&mut self, input: &[u8]) -> Result<Id> {
        let mut reader = Reader::new(input);
        loop {
            let op = reader.next_op()?;
            if op.code == STOP {
                let root = self.pop(op.start)?;
                if reader.position() != input.len() {
                    return Err(Error::malformed(reader.position(), "bytes after STOP"));
                }
                self.arena.add_use(root);
                return Ok(root);
            }
            self.step(op, input.len())?;
        }
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, node: Node) -> Result<()> {
        let id = self.arena.add(node)?;
        self.stack.push(id);
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<Id> {
        if self.stack.len() <= self.floor() {
            return Err(Error::malformed(at, "stack underflow"));
        }
        Ok(self.stack.pop().expect("checked above the floor"))
    }

    fn top(&self, at: usize) -> Result<Id> {
        if self.stack.len() <= self.floor() {
            return Err(Error::malformed(at, "stack underflow"));
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<Id>> {
        let Some(mark) = self.marks.pop() else {
            return Err(Error::malformed(at, "no MARK on the stack"));
        };
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&mut self, index: u32, at: usize) -> Result<()> {
        match self.memo.get(&index) {
            Some(&id) => {
                self.stack.push(id);
                Ok(())
            }
            None => Err(Error::malformed(at, format!("memo slot {index} is empty"))),
        }
    }

    fn memo_put(&mut self, index: u32, at: usize) -> Result<()> {
        let Some(&id) = self.stack.last() else {
            return Err(Error::malformed(at, "stack underflow"));
        };
        self.memo.insert(index, id);
        Ok(())
    }

    fn str_at(&self, id: Id, at: usize) -> Result<&str> {
        match self.arena.node(id) {
            Node::Leaf(PyValue::Str(s)) => Ok(s),
            _ => Err(Error::malformed(at, "expected a str")),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<()> {
        let module = if self.proto < 3 {
            python3_module(module)
        } else {
            module
        };
        if !self.allow.allows(module, name) {
            return Err(Error::forbidden(module, name));
        }
        self.push(Node::Leaf(PyValue::Global(Global::new(module, name))))
    }

    fn step(&mut self, op: Op<'_>, input_len: usize) -> Result<()> {
        let at = op.start;
        match (op.code, op.arg) {
            (PROTO, Arg::U8(p)) => {
                if p > 5 {
                    return Err(ErrorKind::UnsupportedProtocol(p).into());
                }
                self.proto = p;
            }
            (FRAME, Arg::U64(len)) => {
                if len > (input_len - op.end) as u64 {
                    return Err(ErrorKind::Truncated.into());
                }
            }
            (MARK, _) => self.marks.push(self.stack.len()),
            (POP, _) => {
                if self.stack.len() > self.floor() {
                    self.stack.pop();
                } else if self.marks.pop().is_none() {
                    return Err(Error::malformed(at, "stack underflow"));
                }
            }
            (POP_MARK, _) => {
                self.pop_mark(at)?;
            }
            (DUP, _) => {
                let id = self.top(at)?;
                self.stack.push(id);
            }
            (NONE, _) => self.push(Node::Leaf(PyValue::None))?,
            (NEWTRUE, _) => self.push(Node::Leaf(PyValue::Bool(true)))?,
            (NEWFALSE, _) => self.push(Node::Leaf(PyValue::Bool(false)))?,
            (BININT1, Arg::U8(v)) => self.push(Node::Leaf(PyValue::Int(v.into())))?,
            (BININT2, Arg::U16(v)) => self.push(Node::Leaf(PyValue::Int(v.into())))?,
            (BININT, Arg::I32(v)) => self.push(Node::Leaf(PyValue::Int(v.into())))?,
            (LONG1 | LONG4, Arg::Bytes(b)) => self.push(Node::Leaf(int_from_le(b)))?,
            (INT, Arg::Line(line)) => {
                let value = match line {
                    b"00" => PyValue::Bool(false),
                    b"01" => PyValue::Bool(true),
                    _ => PyValue::Int(text(line, at)?),
                };
                self.push(Node::Leaf(value))?;
            }
            (LONG, Arg::Line(line)) => {
                let digits = line.strip_suffix(b"L").unwrap_or(line);
                self.push(Node::Leaf(PyValue::Int(text(digits, at)?)))?;
            }
            (BINFLOAT, Arg::F64(v)) => self.push(Node::Leaf(PyValue::Float(v)))?,
            (FLOAT, Arg::Line(line)) => self.push(Node::Leaf(PyValue::Float(text(line, at)?)))?,
            (SHORT_BINUNICODE | BINUNICODE | BINUNICODE8, Arg::Bytes(b)) => {
                self.push(Node::Leaf(PyValue::Str(utf8(b, at)?)))?;
            }
            (SHORT_BINBYTES | BINBYTES | BINBYTES8, Arg::Bytes(b)) => {
                self.push(Node::Leaf(PyValue::Bytes(b.to_vec())))?;
            }
            (BYTEARRAY8, Arg::Bytes(b)) => self.push(Node::Leaf(PyValue::ByteArray(b.to_vec())))?,
            // Python 2 `str`: CPython decodes it as ASCII by default.
            (SHORT_BINSTRING | BINSTRING, Arg::Bytes(b)) => {
                if !b.is_ascii() {
                    return Err(Error::malformed(at, "non-ASCII Python 2 string"));
                }
                self.push(Node::Leaf(PyValue::Str(utf8(b, at)?)))?;
            }
            (EMPTY_TUPLE, _) => self.push(Node::Tuple(Vec::new()))?,
            (TUPLE1 | TUPLE2 | TUPLE3, _) => {
                let n = usize::from(op.code - TUPLE1 + 1);
                if self.stack.len() < self.floor() + n {
                    return Err(Error::malformed(at, "stack underflow"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.container(Node::Tuple(items))?;
            }
            (TUPLE, _) => {
                let items = self.pop_mark(at)?;
                self.container(Node::Tuple(items))?;
            }
            (EMPTY_LIST, _) => self.push(Node::List(Vec::new()))?,
            (LIST, _) => {
                let items = self.pop_mark(at)?;
                self.container(Node::List(items))?;
            }
            (EMPTY_DICT, _) => self.push(Node::Dict(Vec::new()))?,
            (DICT, _) => {
                let items = self.pop_mark(at)?;
                self.push(Node::Dict(Vec::new()))?;
                let dict = self.top(at)?;
                self.set_items(dict, items, at)?;
            }
            (EMPTY_SET, _) => self.push(Node::Set(Vec::new()))?,
            (FROZENSET, _) => {
                let items = self.pop_mark(at)?;
                self.container(Node::FrozenSet(items))?;
            }
            (APPEND, _) => {
                let item = self.pop(at)?;
                let list = self.top(at)?;
                self.append(list, vec![item], at)?;
            }
            (APPENDS, _) => {
                let items = self.pop_mark(at)?;
                let list = self.top(at)?;
                self.append(list, items, at)?;
            }
            (SETITEM, _) => {
                let value = self.pop(at)?;
                let key = self.pop(at)?;
                let dict = self.top(at)?;
                self.set_items(dict, vec![key, value], at)?;
            }
            (SETITEMS, _) => {
                let items = self.pop_mark(at)?;
                let dict = self.top(at)?;
                self.set_items(dict, items, at)?;
            }
            (ADDITEMS, _) => {
                let items = self.pop_mark(at)?;
                let set = self.top(at)?;
                for &item in &items {
                    self.arena.add_use(item);
                }
                match self.arena.node_mut(set) {
                    Node::Set(v) => v.extend(items),
                    _ => return Err(Error::malformed(at, "ADDITEMS on something not a set")),
                }
            }
            (GET, Arg::Line(line)) => self.memo_get(text(line, at)?, at)?,
            (BINGET, Arg::U8(i)) => self.memo_get(i.into(), at)?,
            (LONG_BINGET, Arg::U32(i)) => self.memo_get(i, at)?,
            (PUT, Arg::Line(line)) => self.memo_put(text(line, at)?, at)?,
            (BINPUT, Arg::U8(i)) => self.memo_put(i.into(), at)?,
            (LONG_BINPUT, Arg::U32(i)) => self.memo_put(i, at)?,
            (MEMOIZE, _) => {
                let index = u32::try_from(self.memo.len())
                    .map_err(|_| Error::malformed(at, "memo is full"))?;
                self.memo_put(index, at)?;
            }
            (GLOBAL, Arg::Lines(module, name)) => {
                let (module, name) = (utf8(module, at)?, utf8(name, at)?);
                self.global(&module, &name)?;
            }
            (STACK_GLOBAL, _) => {
                let name = self.pop(at)?;
                let module = self.pop(at)?;
                let name = self.str_at(name, at)?.to_owned();
                let module = self.str_at(module, at)?.to_owned();
                self.global(&module, &name)?;
            }
            (REDUCE, _) => {
                let args = self.pop(at)?;
                let callable = self.pop(at)?;
                let node = self.reduce(callable, args, at)?;
                self.container(node)?;
            }
            (NEWOBJ, _) => {
                let args = self.pop(at)?;
                let class = self.pop(at)?;
                let node = self.new_object(class, args, None, at)?;
                self.container(node)?;
            }
            (NEWOBJ_EX, _) => {
                let kwargs = self.pop(at)?;
                let args = self.pop(at)?;
                let class = self.pop(at)?;
                let node = self.new_object(class, args, Some(kwargs), at)?;
                self.container(node)?;
            }
            (BUILD, _) => {
                let state = self.pop(at)?;
                let object = self.top(at)?;
                self.arena.add_use(state);
                match self.arena.node_mut(object) {
                    Node::Object(o) if o.state.is_none() => o.state = Some(state),
                    Node::Object(_) => return Err(Error::malformed(at, "second BUILD")),
                    _ => return Err(Error::malformed(at, "BUILD on something not an object")),
                }
            }
            (code, _) => {
                return Err(ErrorKind::UnsupportedOpcode {
                    opcode: code,
                    offset: at,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Pushes a node whose children are already arena ids, counting them.
    fn container(&mut self, node: Node) -> Result<()> {
        self.arena.add_uses_of(&node);
        self.push(node)
    }

    fn append(&mut self, list: Id, items: Vec<Id>, at: usize) -> Result<()> {
        for &item in &items {
            self.arena.add_use(item);
        }
        match self.arena.node_mut(list) {
            Node::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(Error::malformed(at, "APPEND on something not a list")),
        }
    }

    fn set_items(&mut self, dict: Id, items: Vec<Id>, at: usize) -> Result<()> {
        if items.len() % 2 != 0 {
            return Err(Error::malformed(at, "odd number of items for a dict"));
        }
        for &item in &items {
            self.arena.add_use(item);
        }
        match self.arena.node_mut(dict) {
            Node::Dict(v) => {
                v.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                Ok(())
            }
            _ => Err(Error::malformed(at, "SETITEM on something not a dict")),
        }
    }

    fn global_at(&self, id: Id, at: usize) -> Result<Global> {
        match self.arena.node(id) {
            Node::Leaf(PyValue::Global(g)) => Ok(g.clone()),
            _ => Err(Error::malformed(at, "expected a class or function")),
        }
    }

    /// The items of a tuple node (copied: the tuple may be shared).
    fn tuple_items(&mut self, id: Id, at: usize) -> Result<Vec<Id>> {
        match self.arena.node(id) {
            Node::Tuple(items) => {
                let items = items.clone();
                self.arena.charge(items.len())?;
                Ok(items)
            }
            _ => Err(Error::malformed(at, "expected an argument tuple")),
        }
    }

    /// The items of something a `set(...)`/`frozenset(...)`/`list(...)`
    /// call iterates.
    fn iterable_items(&mut self, id: Id, at: usize) -> Result<Vec<Id>> {
        match self.arena.node(id) {
            Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => {
                let items = v.clone();
                self.arena.charge(items.len())?;
                Ok(items)
            }
            _ => Err(Error::malformed(at, "set() of something not a sequence")),
        }
    }

    fn reduce(&mut self, callable: Id, args: Id, at: usize) -> Result<Node> {
        let global = self.global_at(callable, at)?;
        let args = self.tuple_items(args, at)?;
        let Some(kind) = special(&global.module, &global.name) else {
            return Ok(Node::object(global, Construct::Call, args, Vec::new()));
        };
        let bad = || Error::malformed(at, format!("unexpected arguments to {global}"));
        match (kind, args.as_slice()) {
            (Special::List, []) => Ok(Node::List(Vec::new())),
            (Special::List, [items]) => Ok(Node::List(self.iterable_items(*items, at)?)),
            (Special::Set, []) => Ok(Node::Set(Vec::new())),
            (Special::FrozenSet, []) => Ok(Node::FrozenSet(Vec::new())),
            (Special::Set, [items]) => Ok(Node::Set(self.iterable_items(*items, at)?)),
            (Special::FrozenSet, [items]) => Ok(Node::FrozenSet(self.iterable_items(*items, at)?)),
            (Special::Bytes, []) => Ok(Node::Leaf(PyValue::Bytes(Vec::new()))),
            (Special::ByteArray, []) => Ok(Node::Leaf(PyValue::ByteArray(Vec::new()))),
            (Special::Bytes | Special::ByteArray, [data]) => {
                let bytes = match self.arena.node(*data) {
                    Node::Leaf(PyValue::Bytes(b) | PyValue::ByteArray(b)) => b.clone(),
                    _ => return Err(bad()),
                };
                self.arena.charge(bytes.len())?;
                Ok(Node::Leaf(if kind == Special::Bytes {
                    PyValue::Bytes(bytes)
                } else {
                    PyValue::ByteArray(bytes)
                }))
            }
            (Special::CodecsEncode | Special::ByteArray | Special::Bytes, [text, encoding]) => {
                let encoding = self.str_at(*encoding, at)?;
                if !matches!(encoding, "latin1" | "latin-1" | "iso-8859-1") {
                    return Err(Error::malformed(
                        at,
                        "encode() with an encoding other than latin1",
                    ));
                }
                let text = self.str_at(*text, at)?;
                let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
                let bytes = bytes.ok_or_else(|| Error::malformed(at, "not latin1 text"))?;
                self.arena.charge(bytes.len())?;
                Ok(Node::Leaf(if kind == Special::ByteArray {
                    PyValue::ByteArray(bytes)
                } else {
                    PyValue::Bytes(bytes)
                }))
            }
            (Special::Reconstructor, [class, base, state]) => {
                let class = self.global_at(*class, at)?;
                let base = self.global_at(*base, at)?;
                let no_state = matches!(self.arena.node(*state), Node::Leaf(PyValue::None));
                if !base.is("builtins", "object") || !no_state || special_class(&class) {
                    return Err(bad());
                }
                Ok(Node::object(class, Construct::New, Vec::new(), Vec::new()))
            }
            (Special::NewObj, [class, rest @ ..]) => {
                let class = self.global_at(*class, at)?;
                if special_class(&class) {
                    return Err(bad());
                }
                Ok(Node::object(
                    class,
                    Construct::New,
                    rest.to_vec(),
                    Vec::new(),
                ))
            }
            (Special::NewObjEx, [class, args, kwargs]) => {
                self.new_object(*class, *args, Some(*kwargs), at)
            }
            _ => Err(bad()),
        }
    }

    fn new_object(&mut self, class: Id, args: Id, kwargs: Option<Id>, at: usize) -> Result<Node> {
        let class = self.global_at(class, at)?;
        if special_class(&class) {
            return Err(Error::malformed(at, format!("{class}.__new__ is not data")));
        }
        let args = self.tuple_items(args, at)?;
        let Some(kwargs) = kwargs else {
            return Ok(Node::object(class, Construct::New, args, Vec::new()));
        };
        let pairs = match self.arena.node(kwargs) {
            Node::Dict(pairs) => pairs.clone(),
            _ => return Err(Error::malformed(at, "NEWOBJ_EX keywords are not a dict")),
        };
        self.arena.charge(pairs.len() * 2)?;
        Ok(Node::object(class, Construct::NewEx, args, pairs))
    }
}

/// The protocol's own globals are never recorded as objects.
fn special_class(class: &Global) -> bool {
    special(&class.module, &class.name).is_some()
}
