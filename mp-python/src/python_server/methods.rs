//! A Python proxy's method calls as mp-manager operations, and their
//! answers and faults as the values and exceptions Python expects.

use mp_manager::adapter::{Answer, Fault, Item, ObjectId, ObjectKind, Op, Wait};

use super::convert::{
    Params, item_of, key_bytes, key_of, pairs_of, reply_fault, seq_of, type_error, value_of,
    values_of, wait_of,
};
use super::typeids::{ITERATOR, exposed};
use super::{Client, Stop, raise, reprs, traceback};
use crate::manager_protocol::{Reply, Request};
use crate::value::{Global, PyObject, PyValue};

type Outcome = Result<Reply, Stop>;

/// Runs `op`, expecting `Answer::Unit`: `None` for Python.
fn unit(client: &Client<'_>, id: ObjectId, op: Op) -> Outcome {
    client.execute(id, op)?;
    Ok(Reply::Return(PyValue::None))
}

fn boolean(client: &Client<'_>, id: ObjectId, op: Op) -> Outcome {
    match client.execute(id, op)? {
        Answer::Bool(b) => Ok(Reply::Return(PyValue::Bool(b))),
        other => Err(unexpected(other)),
    }
}

fn number(client: &Client<'_>, id: ObjectId, op: Op) -> Result<u64, Stop> {
    match client.execute(id, op)? {
        Answer::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

fn item(client: &Client<'_>, id: ObjectId, op: Op) -> Outcome {
    match client.execute(id, op)? {
        Answer::Item(item) => Ok(Reply::Return(value_of(&item.bytes)?)),
        other => Err(unexpected(other)),
    }
}

fn unexpected(answer: Answer) -> Stop {
    Stop::from(traceback(&format!(
        "SystemError: unexpected answer {answer:?}"
    )))
}

/// One method call of a Python proxy; `None` if its client hung up.
pub(super) fn call(
    client: &Client<'_>,
    id: ObjectId,
    kind: ObjectKind,
    request: Request,
) -> Option<Reply> {
    let method = request.method.as_str();
    let params = Params::new(&request.args, &request.kwds);
    let fallback = matches!(method, "#GETVALUE" | "__repr__" | "__str__");
    let iterating = kind == ObjectKind::List && ITERATOR.contains(&method);
    let outcome = if !fallback && !iterating && !exposed(kind).contains(&method) {
        Ok(traceback(&format!(
            "AttributeError: method {method:?} of {kind} object is not in exposed={:?}",
            exposed(kind)
        )))
    } else {
        match (kind, method) {
            (_, "__repr__" | "__str__") => getvalue(client, id, kind)
                .map(|value| Reply::Return(PyValue::str(reprs::repr(&value, kind)))),
            (_, "#GETVALUE") => getvalue(client, id, kind).map(Reply::Return),
            (ObjectKind::Queue | ObjectKind::JoinableQueue, _) => {
                queue(client, id, method, &params)
            }
            (ObjectKind::Dict | ObjectKind::Namespace, _) => map(client, id, kind, method, &params),
            (ObjectKind::List | ObjectKind::Array, _) => list(client, id, method, &params),
            (ObjectKind::Value, "get") => item(client, id, Op::ValGet),
            (ObjectKind::Value, _) => item_op(client, id, &params, Op::ValSet),
            _ => sync(client, id, kind, method, &params),
        }
    };
    match outcome {
        Ok(reply) => Some(reply),
        Err(Stop::Reply(reply)) => Some(*reply),
        Err(Stop::Fault(fault)) => Some(reply_fault(&fault)),
        Err(Stop::HungUp) => None,
    }
}

/// `op(item)` with the call's first argument as the item.
fn item_op(client: &Client<'_>, id: ObjectId, params: &Params<'_>, op: fn(Item) -> Op) -> Outcome {
    let value = item_of(params.need(0, "value")?)?;
    unit(client, id, op(value))
}

/// The whole object as a Python value (Python's `_getvalue()`).
fn getvalue(client: &Client<'_>, id: ObjectId, kind: ObjectKind) -> Result<PyValue, Stop> {
    Ok(match kind {
        ObjectKind::Dict | ObjectKind::Namespace => {
            let Answer::Pairs(pairs) = client.execute(id, Op::MapItems)? else {
                return Err(Stop::from(type_error("not a mapping")));
            };
            let pairs = pairs
                .iter()
                .map(|(k, v)| Ok((key_of(kind, k)?, value_of(&v.bytes)?)))
                .collect::<Result<Vec<_>, Reply>>()?;
            if kind == ObjectKind::Namespace {
                let class = Global::new("multiprocessing.managers", "Namespace");
                PyObject::new_with_state(class, PyValue::Dict(pairs)).into()
            } else {
                PyValue::Dict(pairs)
            }
        }
        ObjectKind::List | ObjectKind::Array => match client.execute(id, Op::SeqSnapshot)? {
            Answer::Versioned { items, .. } => values_of(&items)?,
            other => return Err(unexpected(other)),
        },
        ObjectKind::Value => match client.execute(id, Op::ValGet)? {
            Answer::Item(item) => value_of(&item.bytes)?,
            other => return Err(unexpected(other)),
        },
        other => PyValue::str(format!("<{other} object in an mp manager>")),
    })
}

fn queue(client: &Client<'_>, id: ObjectId, method: &str, params: &Params<'_>) -> Outcome {
    match method {
        "put" | "put_nowait" => {
            let value = item_of(params.need(0, "item")?)?;
            let wait = if method == "put" {
                wait_of(params.get(1, "block"), params.get(2, "timeout"), false)?
            } else {
                Wait::Now
            };
            unit(client, id, Op::QPut(value, wait))
        }
        "get" | "get_nowait" => {
            let wait = if method == "get" {
                wait_of(params.get(0, "block"), params.get(1, "timeout"), false)?
            } else {
                Wait::Now
            };
            item(client, id, Op::QGet(wait))
        }
        "qsize" => Ok(Reply::Return(PyValue::int(
            number(client, id, Op::QSize)?.into(),
        ))),
        "empty" => Ok(Reply::Return(PyValue::Bool(
            number(client, id, Op::QSize)? == 0,
        ))),
        "full" => {
            let max = number(client, id, Op::QMaxSize)?;
            let full = max > 0 && number(client, id, Op::QSize)? >= max;
            Ok(Reply::Return(PyValue::Bool(full)))
        }
        "task_done" => match client.execute(id, Op::QTaskDone) {
            Err(Stop::Fault(Fault::TooManyReleases)) => Ok(raise(
                "builtins",
                "ValueError",
                Some(PyValue::str("task_done() called too many times")),
            )),
            other => other.map(|_| Reply::Return(PyValue::None)),
        },
        _ => boolean(client, id, Op::QJoin(Wait::Forever)).map(|_| Reply::Return(PyValue::None)),
    }
}

fn map(
    client: &Client<'_>,
    id: ObjectId,
    kind: ObjectKind,
    method: &str,
    params: &Params<'_>,
) -> Outcome {
    let key = |pos: usize| -> Result<(PyValue, Vec<u8>), Reply> {
        let key = params.need(pos, "key")?;
        Ok((key.clone(), key_bytes(kind, key)?))
    };
    let missing = |key: PyValue| {
        if kind == ObjectKind::Namespace {
            raise("builtins", "AttributeError", Some(key))
        } else {
            raise("builtins", "KeyError", Some(key))
        }
    };
    match method {
        "__getitem__" | "get" | "__getattribute__" => {
            let (k, bytes) = key(0)?;
            match client.execute(id, Op::MapGet(bytes))? {
                Answer::MaybeItem(Some(item)) => Ok(Reply::Return(value_of(&item.bytes)?)),
                Answer::MaybeItem(None) if method == "get" => Ok(Reply::Return(
                    params.get(1, "default").cloned().unwrap_or(PyValue::None),
                )),
                Answer::MaybeItem(None) => Ok(missing(k)),
                other => Err(unexpected(other)),
            }
        }
        "__setitem__" | "__setattr__" => {
            let (_, bytes) = key(0)?;
            let value = item_of(params.need(1, "value")?)?;
            unit(client, id, Op::MapSet(bytes, value))
        }
        "__delitem__" | "__delattr__" | "pop" => {
            let (k, bytes) = key(0)?;
            match client.execute(id, Op::MapRemove(bytes))? {
                Answer::MaybeItem(Some(_)) if method != "pop" => Ok(Reply::Return(PyValue::None)),
                Answer::MaybeItem(Some(item)) => Ok(Reply::Return(value_of(&item.bytes)?)),
                Answer::MaybeItem(None) => match params.get(1, "default") {
                    Some(default) if method == "pop" => Ok(Reply::Return(default.clone())),
                    _ => Ok(missing(k)),
                },
                other => Err(unexpected(other)),
            }
        }
        "__contains__" => boolean(client, id, Op::MapContains(key(0)?.1)),
        "__len__" => Ok(Reply::Return(PyValue::int(
            number(client, id, Op::MapLen)?.into(),
        ))),
        "keys" | "__iter__" => {
            let Answer::Keys(keys) = client.execute(id, Op::MapKeys)? else {
                return Err(Stop::from(type_error("not a mapping")));
            };
            let keys: Vec<PyValue> = keys
                .iter()
                .map(|k| key_of(kind, k))
                .collect::<Result<_, _>>()?;
            if method == "keys" {
                return Ok(Reply::Return(PyValue::List(keys)));
            }
            // CPython's dict proxies iterate through an `Iterator` proxy.
            let items = keys.iter().map(item_of).collect::<Result<_, _>>()?;
            let init = mp_manager::adapter::Init::List(items);
            let (iter, _) = client
                .session()
                .create(client.connection().get_ref(), init)?;
            Ok(client.proxy("Iterator", iter, ITERATOR))
        }
        "values" => match client.execute(id, Op::MapValues)? {
            Answer::Items(items) => Ok(Reply::Return(values_of(&items)?)),
            other => Err(unexpected(other)),
        },
        "items" | "copy" => {
            let PyValue::Dict(pairs) = getvalue(client, id, kind)? else {
                return Err(Stop::from(type_error("not a dict")));
            };
            Ok(Reply::Return(if method == "copy" {
                PyValue::Dict(pairs)
            } else {
                PyValue::List(
                    pairs
                        .into_iter()
                        .map(|(k, v)| PyValue::Tuple(vec![k, v]))
                        .collect(),
                )
            }))
        }
        "clear" => unit(client, id, Op::MapClear),
        "popitem" => match client.execute(id, Op::MapPopItem)? {
            Answer::MaybePair(Some((k, v))) => Ok(Reply::Return(PyValue::Tuple(vec![
                key_of(kind, &k)?,
                value_of(&v.bytes)?,
            ]))),
            Answer::MaybePair(None) => Ok(missing(PyValue::str("popitem(): dictionary is empty"))),
            other => Err(unexpected(other)),
        },
        "setdefault" => {
            let (_, bytes) = key(0)?;
            let default = item_of(params.get(1, "default").unwrap_or(&PyValue::None))?;
            item(client, id, Op::MapSetDefault(bytes, default))
        }
        _ => {
            let mut pairs = match params.get(0, "") {
                Some(source) => pairs_of(source)?,
                None => Vec::new(),
            };
            pairs.extend(params.kwds().map(|(k, v)| (k.clone(), v.clone())));
            let pairs = pairs
                .iter()
                .map(|(k, v)| Ok((key_bytes(kind, k)?.into(), item_of(v)?)))
                .collect::<Result<_, Reply>>()?;
            unit(client, id, Op::MapUpdate(pairs))
        }
    }
}

/// A Python index (negative from the end) as a position in `len` items.
fn position(client: &Client<'_>, id: ObjectId, index: &PyValue) -> Result<u64, Stop> {
    let Some(i) = index.as_i128() else {
        return Err(Stop::from(type_error(format!(
            "list indices must be integers, not {}",
            index.type_name()
        ))));
    };
    if i >= 0 {
        return Ok(i as u64);
    }
    let len = i128::from(number(client, id, Op::SeqLen)?);
    u64::try_from(len + i).map_err(|_| {
        Stop::from(raise(
            "builtins",
            "IndexError",
            Some(PyValue::str("list index out of range")),
        ))
    })
}

fn list(client: &Client<'_>, id: ObjectId, method: &str, params: &Params<'_>) -> Outcome {
    match method {
        "__getitem__" => {
            let index = params.need(0, "index")?;
            if let PyValue::Object(slice) = index {
                if slice.class.is("builtins", "slice") {
                    return Ok(type_error(
                        "slices of a list in an mp manager: use _getvalue()[a:b]",
                    ));
                }
            }
            let at = position(client, id, index)?;
            item(client, id, Op::SeqGet(at))
        }
        "__setitem__" => {
            let at = position(client, id, params.need(0, "index")?)?;
            let value = item_of(params.need(1, "value")?)?;
            unit(client, id, Op::SeqSet(at, value))
        }
        "__delitem__" => {
            let at = position(client, id, params.need(0, "index")?)?;
            match client.execute(id, Op::SeqPop(Some(at)))? {
                Answer::MaybeItem(Some(_)) => Ok(Reply::Return(PyValue::None)),
                _ => Ok(raise(
                    "builtins",
                    "IndexError",
                    Some(PyValue::str("list assignment index out of range")),
                )),
            }
        }
        "__len__" => Ok(Reply::Return(PyValue::int(
            number(client, id, Op::SeqLen)?.into(),
        ))),
        "__contains__" | "index" => {
            let value = params.need(0, "value")?;
            match client.execute(id, Op::SeqIndex(item_of(value)?.bytes))? {
                Answer::Count(i) if method == "index" => Ok(Reply::Return(PyValue::int(i.into()))),
                Answer::Count(_) => Ok(Reply::Return(PyValue::Bool(true))),
                _ if method == "index" => Ok(raise(
                    "builtins",
                    "ValueError",
                    Some(PyValue::str("value is not in list")),
                )),
                _ => Ok(Reply::Return(PyValue::Bool(false))),
            }
        }
        "count" => {
            let bytes = item_of(params.need(0, "value")?)?.bytes;
            Ok(Reply::Return(PyValue::int(
                number(client, id, Op::SeqCount(bytes))?.into(),
            )))
        }
        "append" => item_op(client, id, params, Op::SeqPush),
        "extend" | "__iadd__" => {
            let items = seq_of(params.need(0, "iterable")?)?
                .iter()
                .map(item_of)
                .collect::<Result<_, _>>()?;
            unit(client, id, Op::SeqExtend(items))
        }
        "insert" => {
            let len = number(client, id, Op::SeqLen)?;
            let index = params
                .need(0, "index")?
                .as_i128()
                .ok_or_else(|| type_error("index must be an int"))?;
            let at = if index < 0 {
                (i128::from(len) + index).max(0)
            } else {
                index.min(i128::from(len))
            };
            let value = item_of(params.need(1, "object")?)?;
            unit(client, id, Op::SeqInsert(at as u64, value))
        }
        "pop" | "__next__" => {
            let at = match params.get(0, "index") {
                Some(index) => Some(position(client, id, index)?),
                None if method == "__next__" => Some(0),
                None => None,
            };
            match client.execute(id, Op::SeqPop(at)) {
                Ok(Answer::MaybeItem(Some(item))) => Ok(Reply::Return(value_of(&item.bytes)?)),
                Ok(_) | Err(Stop::Fault(Fault::IndexOutOfRange { .. })) if method == "__next__" => {
                    Ok(raise("builtins", "StopIteration", None))
                }
                Ok(_) => Ok(raise(
                    "builtins",
                    "IndexError",
                    Some(PyValue::str("pop from empty list")),
                )),
                Err(stop) => Err(stop),
            }
        }
        "remove" => {
            let bytes = item_of(params.need(0, "value")?)?.bytes;
            match client.execute(id, Op::SeqRemove(bytes))? {
                Answer::Bool(true) => Ok(Reply::Return(PyValue::None)),
                _ => Ok(raise(
                    "builtins",
                    "ValueError",
                    Some(PyValue::str("list.remove(x): x not in list")),
                )),
            }
        }
        "reverse" => unit(client, id, Op::SeqReverse),
        other => Ok(type_error(format!(
            "{other} is not supported on a list in an mp manager"
        ))),
    }
}

/// Locks, semaphores, events, conditions and barriers.
fn sync(
    client: &Client<'_>,
    id: ObjectId,
    kind: ObjectKind,
    method: &str,
    params: &Params<'_>,
) -> Outcome {
    let thread = client.thread();
    match (kind, method) {
        (ObjectKind::Semaphore, "acquire") => {
            let wait = wait_of(params.get(0, "blocking"), params.get(1, "timeout"), true)?;
            boolean(client, id, Op::SemAcquire(wait))
        }
        (ObjectKind::Semaphore, _) => {
            let n = params
                .get(0, "n")
                .and_then(PyValue::as_i128)
                .unwrap_or(1)
                .max(1) as u64;
            match client.execute(id, Op::SemRelease(n)) {
                Err(Stop::Fault(Fault::TooManyReleases)) => Ok(raise(
                    "builtins",
                    "ValueError",
                    Some(PyValue::str("Semaphore released too many times")),
                )),
                other => other.map(|_| Reply::Return(PyValue::None)),
            }
        }
        (_, "acquire") => {
            let wait = wait_of(params.get(0, "blocking"), params.get(1, "timeout"), true)?;
            boolean(client, id, Op::LockAcquire { thread, wait })
        }
        (_, "release") => unit(client, id, Op::LockRelease { thread }),
        (ObjectKind::Condition, "wait") => {
            let wait = wait_of(None, params.get(0, "timeout"), false)?;
            boolean(client, id, Op::CondWait { thread, wait })
        }
        (ObjectKind::Condition, "notify" | "notify_all") => {
            let n = match method {
                "notify" => params
                    .get(0, "n")
                    .and_then(PyValue::as_i128)
                    .unwrap_or(1)
                    .max(0) as u64,
                _ => u64::MAX,
            };
            unit(client, id, Op::CondNotify { thread, n })
        }
        (ObjectKind::Event, "is_set") => boolean(client, id, Op::EvIsSet),
        (ObjectKind::Event, "set") => unit(client, id, Op::EvSet),
        (ObjectKind::Event, "clear") => unit(client, id, Op::EvClear),
        (ObjectKind::Event, _) => {
            let wait = wait_of(None, params.get(0, "timeout"), false)?;
            boolean(client, id, Op::EvWait(wait))
        }
        (ObjectKind::Barrier, "wait") => {
            let wait = wait_of(None, params.get(0, "timeout"), false)?;
            Ok(Reply::Return(PyValue::int(
                number(client, id, Op::BarWait(wait))?.into(),
            )))
        }
        (ObjectKind::Barrier, "abort") => unit(client, id, Op::BarAbort),
        (ObjectKind::Barrier, "reset") => unit(client, id, Op::BarReset),
        (ObjectKind::Barrier, _) => match params.get(0, "name").and_then(PyValue::as_str) {
            Some("parties") => Ok(Reply::Return(PyValue::int(
                number(client, id, Op::BarParties)?.into(),
            ))),
            Some("n_waiting") => Ok(Reply::Return(PyValue::int(
                number(client, id, Op::BarWaiting)?.into(),
            ))),
            Some("broken") => boolean(client, id, Op::BarBroken),
            other => Ok(raise(
                "builtins",
                "AttributeError",
                Some(PyValue::str(format!("{other:?}"))),
            )),
        },
        _ => Ok(type_error(format!("{method} is not supported on a {kind}"))),
    }
}
