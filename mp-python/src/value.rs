//! The plain data a pickle decodes to: [`PyValue`] and its parts.

use std::fmt;

use crate::pickled::Pickled;

/// A Python value as plain data. Nothing in it is live: an object of an
/// allow-listed class is its class name plus the arguments and state its
/// pickle carried ([`PyObject`]).
///
/// Dicts and sets keep the order in which the pickle listed their items
/// and are not de-duplicated (a pickle written by CPython never repeats a
/// key; a hand-made one that does keeps both entries here, and a Rust map
/// built from it keeps the last, as Python does).
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// An `int` that fits in an `i64`.
    Int(i64),
    /// An `int` that does not fit in an `i64`.
    BigInt(BigInt),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `bytearray`.
    ByteArray(Vec<u8>),
    /// `tuple`.
    Tuple(Vec<PyValue>),
    /// `list`.
    List(Vec<PyValue>),
    /// `dict`, as `(key, value)` pairs in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
    /// `set`, items in the pickle's order.
    Set(Vec<PyValue>),
    /// `frozenset`, items in the pickle's order.
    FrozenSet(Vec<PyValue>),
    /// An allow-listed class or function itself, not called (for example
    /// `AutoProxy` inside a pickled proxy).
    Global(Global),
    /// An object of an allow-listed class, as data.
    Object(Box<PyObject>),
    /// A pickle kept as its original bytes (see [`Pickled`]). Only the
    /// encoder produces it from this variant; the decoder never returns it.
    Pickled(Pickled),
}

impl PyValue {
    /// `Str` from anything string-like.
    pub fn str(s: impl Into<String>) -> PyValue {
        PyValue::Str(s.into())
    }

    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `Int` or a `BigInt` that fits in `i128`.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            PyValue::Int(i) => Some(i128::from(*i)),
            PyValue::BigInt(b) => b.to_i128(),
            _ => None,
        }
    }

    /// The items, if this is a `Tuple` or a `List`.
    pub fn as_seq(&self) -> Option<&[PyValue]> {
        match self {
            PyValue::Tuple(v) | PyValue::List(v) => Some(v),
            _ => None,
        }
    }

    /// The integer as a `PyValue` (`Int` when it fits in `i64`).
    pub fn int(value: i128) -> PyValue {
        match i64::try_from(value) {
            Ok(i) => PyValue::Int(i),
            Err(_) => PyValue::BigInt(BigInt::from_i128(value)),
        }
    }

    /// The Python type name of this value (`"int"`, `"dict"`, or the
    /// class's `module.name` for objects).
    pub fn type_name(&self) -> String {
        match self {
            PyValue::None => "NoneType".into(),
            PyValue::Bool(_) => "bool".into(),
            PyValue::Int(_) | PyValue::BigInt(_) => "int".into(),
            PyValue::Float(_) => "float".into(),
            PyValue::Str(_) => "str".into(),
            PyValue::Bytes(_) => "bytes".into(),
            PyValue::ByteArray(_) => "bytearray".into(),
            PyValue::Tuple(_) => "tuple".into(),
            PyValue::List(_) => "list".into(),
            PyValue::Dict(_) => "dict".into(),
            PyValue::Set(_) => "set".into(),
            PyValue::FrozenSet(_) => "frozenset".into(),
            PyValue::Global(_) => "type".into(),
            PyValue::Object(o) => o.class.to_string(),
            PyValue::Pickled(_) => "pickled bytes".into(),
        }
    }
}

/// A Python `int` outside `i64`: little-endian two's complement bytes, the
/// shortest that hold the value (the form of pickle's `LONG1`/`LONG4`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigInt {
    le: Vec<u8>,
}

impl BigInt {
    /// From little-endian two's complement bytes of any length; the
    /// representation is made the shortest.
    pub fn from_le_bytes(bytes: &[u8]) -> BigInt {
        let mut le = bytes.to_vec();
        while le.len() > 1 {
            let top = le[le.len() - 1];
            let next = le[le.len() - 2];
            let redundant = (top == 0 && next & 0x80 == 0) || (top == 0xff && next & 0x80 != 0);
            if !redundant {
                break;
            }
            le.pop();
        }
        if le.is_empty() {
            le.push(0);
        }
        BigInt { le }
    }

    /// From an `i128`.
    pub fn from_i128(value: i128) -> BigInt {
        BigInt::from_le_bytes(&value.to_le_bytes())
    }

    /// From a `u128`.
    pub fn from_u128(value: u128) -> BigInt {
        let mut bytes = value.to_le_bytes().to_vec();
        bytes.push(0);
        BigInt::from_le_bytes(&bytes)
    }

    /// The shortest little-endian two's complement bytes.
    pub fn to_le_bytes(&self) -> &[u8] {
        &self.le
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.le.last().is_some_and(|b| b & 0x80 != 0)
    }

    /// The value as an `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.le.len() > 16 {
            return None;
        }
        let fill = if self.is_negative() { 0xff } else { 0 };
        let mut buf = [fill; 16];
        buf[..self.le.len()].copy_from_slice(&self.le);
        Some(i128::from_le_bytes(buf))
    }

    /// The value as a `u128`, if it fits.
    pub fn to_u128(&self) -> Option<u128> {
        if self.is_negative() {
            return None;
        }
        let digits = match self.le.split_last() {
            Some((0, rest)) => rest,
            _ => &self.le[..],
        };
        if digits.len() > 16 {
            return None;
        }
        let mut buf = [0; 16];
        buf[..digits.len()].copy_from_slice(digits);
        Some(u128::from_le_bytes(buf))
    }
}

impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_i128() {
            Some(v) => write!(f, "BigInt({v})"),
            None => {
                f.write_str("BigInt(le 0x")?;
                for b in &self.le {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A global by its module and name, as a pickle names it
/// (`builtins.KeyError`, `multiprocessing.managers.Token`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Global {
    /// The module (`multiprocessing.managers`).
    pub module: String,
    /// The (qualified) name in the module (`Token`).
    pub name: String,
}

impl Global {
    /// A global from its module and name.
    pub fn new(module: impl Into<String>, name: impl Into<String>) -> Global {
        Global {
            module: module.into(),
            name: name.into(),
        }
    }

    /// Whether this is `module.name`.
    pub fn is(&self, module: &str, name: &str) -> bool {
        self.module == module && self.name == name
    }
}

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// How a pickle builds an object from its class: nothing is built here,
/// the form is kept so the object re-encodes the way it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Construct {
    /// `class(*args)` (pickle's `REDUCE`; exceptions cross this way).
    Call,
    /// `class.__new__(class, *args)` (`NEWOBJ`; `Token` crosses this way).
    New,
    /// `class.__new__(class, *args, **kwargs)` (`NEWOBJ_EX`).
    NewEx,
}

/// An object of an allow-listed class, as the data its pickle carried.
#[derive(Clone, Debug, PartialEq)]
pub struct PyObject {
    /// The class.
    pub class: Global,
    /// How the pickle builds it.
    pub construct: Construct,
    /// The positional arguments.
    pub args: Vec<PyValue>,
    /// The keyword arguments (only with [`Construct::NewEx`]).
    pub kwargs: Vec<(PyValue, PyValue)>,
    /// The state set after construction (pickle's `BUILD`), if any.
    pub state: Option<PyValue>,
}

impl PyObject {
    /// `class(*args)`, no state.
    pub fn call(class: Global, args: Vec<PyValue>) -> PyObject {
        PyObject {
            class,
            construct: Construct::Call,
            args,
            kwargs: Vec::new(),
            state: None,
        }
    }

    /// `class.__new__(class)` then `BUILD state`.
    pub fn new_with_state(class: Global, state: PyValue) -> PyObject {
        PyObject {
            class,
            construct: Construct::New,
            args: Vec::new(),
            kwargs: Vec::new(),
            state: Some(state),
        }
    }
}

impl From<PyObject> for PyValue {
    fn from(object: PyObject) -> PyValue {
        PyValue::Object(Box::new(object))
    }
}
