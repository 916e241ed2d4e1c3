//! The typeids a Python client can create (`SyncManager`'s: `Queue`,
//! `dict`, `Lock`, ...), and the methods each kind of object exposes to
//! Python proxies.

use mp_manager::adapter::{Init, ObjectId, ObjectKind};

use super::convert::{Params, item_of, key_bytes, reply_fault};
use super::{Client, raise, traceback};
use crate::manager_protocol::Reply;
use crate::value::PyValue;

const QUEUE: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "join",
    "put",
    "put_nowait",
    "qsize",
    "task_done",
];
const DICT: &[&str] = &[
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__iter__",
    "__len__",
    "__setitem__",
    "clear",
    "copy",
    "get",
    "items",
    "keys",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "values",
];
const LIST: &[&str] = &[
    "__add__",
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__len__",
    "__mul__",
    "__reversed__",
    "__rmul__",
    "__setitem__",
    "append",
    "count",
    "extend",
    "index",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
    "__imul__",
];
const ARRAY: &[&str] = &["__len__", "__getitem__", "__setitem__"];
const NAMESPACE: &[&str] = &["__getattribute__", "__setattr__", "__delattr__"];
const VALUE: &[&str] = &["get", "set"];
const ACQUIRER: &[&str] = &["acquire", "release"];
const CONDITION: &[&str] = &["acquire", "release", "wait", "notify", "notify_all"];
const EVENT: &[&str] = &["is_set", "set", "clear", "wait"];
const BARRIER: &[&str] = &["__getattribute__", "wait", "abort", "reset"];
/// What a dict's `__iter__` returns (CPython's `Iterator` typeid).
pub(super) const ITERATOR: &[&str] = &["__next__"];

/// The methods a Python proxy of a `kind` object may call.
pub(super) fn exposed(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::Queue | ObjectKind::JoinableQueue => QUEUE,
        ObjectKind::Dict => DICT,
        ObjectKind::List => LIST,
        ObjectKind::Array => ARRAY,
        ObjectKind::Namespace => NAMESPACE,
        ObjectKind::Value => VALUE,
        ObjectKind::Lock | ObjectKind::RLock | ObjectKind::Semaphore => ACQUIRER,
        ObjectKind::Condition => CONDITION,
        ObjectKind::Event => EVENT,
        ObjectKind::Barrier => BARRIER,
        _ => &[],
    }
}

/// Python's `create(typeid, *args, **kwds)`: a typeid the mp manager
/// registered, or one of `SyncManager`'s.
pub(super) fn create(
    client: &Client<'_>,
    typeid: &str,
    args: &[PyValue],
    kwds: &[(PyValue, PyValue)],
) -> Result<(ObjectId, &'static [&'static str]), Reply> {
    let conn = client.connection().get_ref();
    match client.session().typeid(conn, typeid, &[]) {
        Ok((id, kind)) => {
            if !args.is_empty() || !kwds.is_empty() {
                client.session().decref(id);
                return Err(traceback(&format!(
                    "TypeError: the typeid {typeid:?} of this mp manager takes no arguments \
                     from Python clients"
                )));
            }
            return Ok((id, exposed(kind)));
        }
        Err(mp_manager::adapter::Fault::UnknownTypeid(_)) => {}
        Err(fault) => return Err(reply_fault(&fault)),
    }
    let init = builtin(typeid, &Params::new(args, kwds))?;
    let kind = init.kind();
    match client.session().create(conn, init) {
        Ok((id, _)) => Ok((id, exposed(kind))),
        Err(fault) => Err(reply_fault(&fault)),
    }
}

fn count(value: Option<&PyValue>, default: u64, what: &str) -> Result<u64, Reply> {
    match value {
        None | Some(PyValue::None) => Ok(default),
        Some(v) => v
            .as_i128()
            .and_then(|n| u64::try_from(n.max(0)).ok())
            .ok_or_else(|| {
                raise(
                    "builtins",
                    "TypeError",
                    Some(PyValue::str(format!("{what} must be an int"))),
                )
            }),
    }
}

/// The initial state of one of `SyncManager`'s typeids.
fn builtin(typeid: &str, params: &Params<'_>) -> Result<Init, Reply> {
    Ok(match typeid {
        "Queue" | "JoinableQueue" => Init::Queue {
            maxsize: count(params.get(0, "maxsize"), 0, "maxsize")?,
            joinable: true,
        },
        "dict" => {
            let mut pairs = Vec::new();
            if let Some(source) = params.get(0, "") {
                for (k, v) in super::convert::pairs_of(source)? {
                    pairs.push((key_bytes(ObjectKind::Dict, &k)?.into(), item_of(&v)?));
                }
            }
            for (k, v) in params.kwds() {
                pairs.push((key_bytes(ObjectKind::Dict, k)?.into(), item_of(v)?));
            }
            Init::Dict(pairs)
        }
        "list" => Init::List(items(params.get(0, ""))?),
        "Array" => Init::Array(items(params.get(1, "sequence"))?),
        "Namespace" => {
            let mut pairs = Vec::new();
            for (k, v) in params.kwds() {
                pairs.push((key_bytes(ObjectKind::Namespace, k)?.into(), item_of(v)?));
            }
            Init::Namespace(pairs)
        }
        "Value" => Init::Value(item_of(params.get(1, "value").unwrap_or(&PyValue::None))?),
        "Lock" => Init::Lock,
        "RLock" => Init::RLock,
        "Semaphore" | "BoundedSemaphore" => Init::Semaphore {
            value: count(params.get(0, "value"), 1, "value")?,
            bounded: typeid == "BoundedSemaphore",
        },
        "Event" => Init::Event,
        "Condition" => {
            if params.get(0, "lock").is_some_and(|l| *l != PyValue::None) {
                return Err(traceback(
                    "TypeError: a Condition of an mp manager has its own lock",
                ));
            }
            Init::Condition
        }
        "Barrier" => match count(params.get(0, "parties"), 0, "parties")? {
            0 => {
                return Err(raise(
                    "builtins",
                    "ValueError",
                    Some(PyValue::str("parties must be > 0")),
                ));
            }
            parties => Init::Barrier { parties },
        },
        _ => return Err(traceback(&format!("KeyError: {typeid:?}"))),
    })
}

fn items(source: Option<&PyValue>) -> Result<Vec<mp_manager::adapter::Item>, Reply> {
    match source {
        None => Ok(Vec::new()),
        Some(source) => super::convert::seq_of(source)?
            .iter()
            .map(item_of)
            .collect(),
    }
}
