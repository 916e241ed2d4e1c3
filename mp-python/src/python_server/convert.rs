//! Python's values and arguments as mp-manager's items, keys and waits,
//! and mp-manager's faults as the exceptions Python raises.

use std::time::Duration;

use mp_manager::adapter::{Fault, Item, ObjectKind, Wait};

use super::raise;
use crate::manager_protocol::Reply;
use crate::pickle_item::{item_bytes, pickle_in};
use crate::value::PyValue;
use crate::{Codec, Pickled};

/// Positional-or-keyword arguments of one call.
pub(super) struct Params<'a> {
    args: &'a [PyValue],
    kwds: &'a [(PyValue, PyValue)],
}

impl<'a> Params<'a> {
    pub(super) fn new(args: &'a [PyValue], kwds: &'a [(PyValue, PyValue)]) -> Params<'a> {
        Params { args, kwds }
    }

    /// Argument `pos`, or keyword `name`.
    pub(super) fn get(&self, pos: usize, name: &str) -> Option<&'a PyValue> {
        self.args.get(pos).or_else(|| {
            self.kwds
                .iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v)
        })
    }

    /// Argument `pos` or keyword `name`, which the method requires.
    pub(super) fn need(&self, pos: usize, name: &str) -> Result<&'a PyValue, Reply> {
        self.get(pos, name)
            .ok_or_else(|| type_error(format!("missing required argument {name:?}")))
    }

    pub(super) fn kwds(&self) -> impl Iterator<Item = (&'a PyValue, &'a PyValue)> {
        self.kwds.iter().map(|(k, v)| (k, v))
    }
}

pub(super) fn type_error(message: impl Into<String>) -> Reply {
    raise("builtins", "TypeError", Some(PyValue::str(message)))
}

pub(super) fn codec() -> &'static Codec {
    static CODEC: std::sync::OnceLock<Codec> = std::sync::OnceLock::new();
    CODEC.get_or_init(Codec::new)
}

/// A Python value as a stored item (a [`Pickle`](crate::Pickle)'s bytes).
pub(super) fn item_of(value: &PyValue) -> Result<Item, Reply> {
    let pickle = codec()
        .encode(value)
        .map_err(|e| type_error(e.to_string()))?;
    Ok(Item {
        bytes: item_bytes(&pickle),
        refs: Vec::new(),
    })
}

/// A key as the object stores it: a dict's canonical pickle, or a
/// namespace's attribute name as mp's `Namespace` writes it.
pub(super) fn key_bytes(kind: ObjectKind, key: &PyValue) -> Result<Vec<u8>, Reply> {
    if kind == ObjectKind::Namespace {
        let Some(name) = key.as_str() else {
            return Err(type_error("attribute name must be string"));
        };
        return postcard::to_allocvec(name).map_err(|e| type_error(e.to_string()));
    }
    if matches!(
        key,
        PyValue::List(_) | PyValue::Dict(_) | PyValue::Set(_) | PyValue::ByteArray(_)
    ) {
        return Err(type_error(format!(
            "unhashable type: '{}'",
            key.type_name()
        )));
    }
    Ok(item_of(key)?.bytes)
}

/// A stored value for Python: checked as data again, relayed as is.
pub(super) fn value_of(bytes: &[u8]) -> Result<PyValue, Reply> {
    let Some(pickle) = pickle_in(bytes) else {
        return Err(type_error(
            "the value was stored by an mp client as a Rust-only value; \
             values shared with Python are stored as mp_python::Pickle",
        ));
    };
    Pickled::new(pickle.to_vec(), codec())
        .map(PyValue::Pickled)
        .map_err(|e| type_error(e.to_string()))
}

pub(super) fn key_of(kind: ObjectKind, bytes: &[u8]) -> Result<PyValue, Reply> {
    if kind == ObjectKind::Namespace {
        return postcard::from_bytes::<String>(bytes)
            .map(PyValue::Str)
            .map_err(|e| type_error(e.to_string()));
    }
    value_of(bytes)
}

pub(super) fn values_of(items: &[Item]) -> Result<PyValue, Reply> {
    Ok(PyValue::List(
        items
            .iter()
            .map(|i| value_of(&i.bytes))
            .collect::<Result<_, _>>()?,
    ))
}

/// The pairs of a dict, or of a sequence of 2-tuples (`dict.update`).
pub(super) fn pairs_of(source: &PyValue) -> Result<Vec<(PyValue, PyValue)>, Reply> {
    match source {
        PyValue::Dict(pairs) => Ok(pairs.clone()),
        other => seq_of(other)?
            .iter()
            .map(|pair| match pair.as_seq() {
                Some([k, v]) => Ok((k.clone(), v.clone())),
                _ => Err(type_error(
                    "dictionary update sequence element is not a pair",
                )),
            })
            .collect(),
    }
}

/// The items of a list, tuple or set.
pub(super) fn seq_of(source: &PyValue) -> Result<Vec<PyValue>, Reply> {
    match source {
        PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) | PyValue::FrozenSet(v) => {
            Ok(v.clone())
        }
        other => Err(type_error(format!(
            "'{}' object is not iterable",
            other.type_name()
        ))),
    }
}

pub(super) fn truthy(value: Option<&PyValue>, default: bool) -> bool {
    match value {
        None => default,
        Some(PyValue::None | PyValue::Bool(false) | PyValue::Int(0)) => false,
        Some(_) => true,
    }
}

/// How long to wait: `block` false is now; `timeout` None (or negative,
/// for locks) forever.
pub(super) fn wait_of(
    block: Option<&PyValue>,
    timeout: Option<&PyValue>,
    lock: bool,
) -> Result<Wait, Reply> {
    if !truthy(block, true) {
        return Ok(Wait::Now);
    }
    let seconds = match timeout {
        None | Some(PyValue::None) => return Ok(Wait::Forever),
        Some(PyValue::Float(f)) => *f,
        Some(v) => v
            .as_i128()
            .map(|i| i as f64)
            .ok_or_else(|| type_error("timeout must be a number"))?,
    };
    if seconds < 0.0 {
        if lock && seconds == -1.0 {
            return Ok(Wait::Forever);
        }
        let message = "'timeout' must be a non-negative number";
        return Err(raise("builtins", "ValueError", Some(PyValue::str(message))));
    }
    Ok(Wait::For(Duration::from_secs_f64(seconds.min(1e9))))
}

/// A fault as the exception Python raises for it.
pub(super) fn reply_fault(fault: &Fault) -> Reply {
    let message = |text: &str| Some(PyValue::str(text));
    match fault {
        Fault::Empty => raise("_queue", "Empty", None),
        Fault::Full => raise("queue", "Full", None),
        Fault::IndexOutOfRange { .. } => {
            raise("builtins", "IndexError", message("list index out of range"))
        }
        Fault::NoAttribute(name) => raise("builtins", "AttributeError", message(name)),
        Fault::BrokenBarrier => raise("threading", "BrokenBarrierError", None),
        Fault::NotOwner => raise(
            "builtins",
            "RuntimeError",
            message("cannot release un-acquired lock"),
        ),
        Fault::TooManyReleases => {
            raise("builtins", "ValueError", message("released too many times"))
        }
        Fault::WrongKind { .. } | Fault::WrongValue(_) => {
            type_error(mp_manager::Error::from(fault.clone()).to_string())
        }
        Fault::ShuttingDown => raise(
            "builtins",
            "EOFError",
            message("the manager is shutting down"),
        ),
        other => super::fault_traceback(other),
    }
}
