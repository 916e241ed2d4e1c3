//! The messages of CPython's manager protocol (`multiprocessing.managers`)
//! as data: a request `(id, method, args, kwds)` and the replies
//! `('#RETURN', value)`, `('#ERROR', exception)`, `('#TRACEBACK', text)`,
//! `('#UNSERIALIZABLE', text)` and `('#PROXY', (exposed, token))`.

use crate::error::{ErrorKind, Result};
use crate::shapes::{PyException, Token};
use crate::value::PyValue;

/// One request: a control call (`id` is `None`: `'create'`, `'incref'`,
/// `'accept_connection'`, ...) or a method call on object `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The object's id (a hex string), `None` for control calls.
    pub id: Option<String>,
    /// The method (or control call) name.
    pub method: String,
    /// The positional arguments.
    pub args: Vec<PyValue>,
    /// The keyword arguments.
    pub kwds: Vec<(PyValue, PyValue)>,
}

impl Request {
    /// The request as the tuple Python's `dispatch` sends.
    pub fn to_value(&self) -> PyValue {
        PyValue::Tuple(vec![
            self.id.as_deref().map_or(PyValue::None, PyValue::str),
            PyValue::str(&self.method),
            PyValue::Tuple(self.args.clone()),
            PyValue::Dict(self.kwds.clone()),
        ])
    }

    /// Reads a request (Python sends `args` as a tuple, `kwds` as a dict).
    pub fn from_value(value: PyValue) -> Result<Request> {
        let PyValue::Tuple(items) = value else {
            return Err(shape("a request tuple (id, method, args, kwds)", &value));
        };
        let Ok([id, method, args, kwds]) = <[PyValue; 4]>::try_from(items) else {
            return Err(
                ErrorKind::Serde("a request is a 4-tuple (id, method, args, kwds)".into()).into(),
            );
        };
        let id = match id {
            PyValue::None => None,
            PyValue::Str(id) => Some(id),
            other => return Err(shape("an object id (str or None)", &other)),
        };
        let PyValue::Str(method) = method else {
            return Err(shape("a method name", &method));
        };
        let args = match args {
            PyValue::Tuple(args) | PyValue::List(args) => args,
            other => return Err(shape("an argument tuple", &other)),
        };
        let kwds = match kwds {
            PyValue::Dict(kwds) => kwds,
            other => return Err(shape("a keyword dict", &other)),
        };
        Ok(Request {
            id,
            method,
            args,
            kwds,
        })
    }
}

/// One reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `('#RETURN', value)`.
    Return(PyValue),
    /// `('#ERROR', exception)`: the method raised it.
    Error(PyException),
    /// `('#TRACEBACK', text)`: the server failed (unknown id, method not
    /// exposed, a control call that raised); Python raises `RemoteError`.
    Traceback(String),
    /// `('#UNSERIALIZABLE', text)`: the result could not be pickled.
    Unserializable(String),
    /// `('#PROXY', (exposed, token))`: the method returned an object that
    /// the server now holds for the caller (one reference, the caller's).
    Proxy {
        /// The new object's exposed methods.
        exposed: Vec<String>,
        /// The new object.
        token: Token,
    },
}

impl Reply {
    /// The reply as the tuple a CPython server sends.
    pub fn to_value(&self) -> PyValue {
        let (kind, value) = match self {
            Reply::Return(value) => ("#RETURN", value.clone()),
            Reply::Error(exc) => ("#ERROR", exc.to_value()),
            Reply::Traceback(text) => ("#TRACEBACK", PyValue::str(text)),
            Reply::Unserializable(text) => ("#UNSERIALIZABLE", PyValue::str(text)),
            Reply::Proxy { exposed, token } => (
                "#PROXY",
                PyValue::Tuple(vec![
                    PyValue::Tuple(exposed.iter().map(PyValue::str).collect()),
                    token.to_value(),
                ]),
            ),
        };
        PyValue::Tuple(vec![PyValue::str(kind), value])
    }

    /// Reads a reply.
    pub fn from_value(value: PyValue) -> Result<Reply> {
        let PyValue::Tuple(items) = value else {
            return Err(shape("a reply tuple (kind, result)", &value));
        };
        let Ok([kind, result]) = <[PyValue; 2]>::try_from(items) else {
            return Err(ErrorKind::Serde("a reply is a 2-tuple (kind, result)".into()).into());
        };
        let text = |result: PyValue| match result {
            PyValue::Str(text) => Ok(text),
            other => Err(shape("a traceback text", &other)),
        };
        match kind.as_str() {
            Some("#RETURN") => Ok(Reply::Return(result)),
            Some("#ERROR") => Ok(Reply::Error(PyException::from_value(&result)?)),
            Some("#TRACEBACK") => Ok(Reply::Traceback(text(result)?)),
            Some("#UNSERIALIZABLE") => Ok(Reply::Unserializable(text(result)?)),
            Some("#PROXY") => {
                let pair = result.as_seq().filter(|pair| pair.len() == 2);
                let Some([exposed, token]) = pair else {
                    return Err(shape("(exposed, token)", &result));
                };
                let exposed = exposed
                    .as_seq()
                    .ok_or_else(|| shape("a sequence of method names", exposed))?
                    .iter()
                    .map(|name| {
                        name.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| shape("a method name", name))
                    })
                    .collect::<Result<_>>()?;
                Ok(Reply::Proxy {
                    exposed,
                    token: Token::from_value(token)?,
                })
            }
            _ => Err(shape("a reply kind ('#RETURN', '#ERROR', ...)", &kind)),
        }
    }
}

fn shape(what: &str, value: &PyValue) -> crate::Error {
    ErrorKind::Serde(format!(
        "expected {what}, got a Python {}",
        value.type_name()
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let request = Request {
            id: Some("7f3a".into()),
            method: "put".into(),
            args: vec![PyValue::Int(1)],
            kwds: vec![(PyValue::str("block"), PyValue::Bool(false))],
        };
        assert_eq!(Request::from_value(request.to_value()).unwrap(), request);
        let token = Token {
            typeid: "dict".into(),
            address: PyValue::str("/tmp/m"),
            id: "7f3b".into(),
        };
        for reply in [
            Reply::Return(PyValue::None),
            Reply::Error(PyException::new("_queue", "Empty", vec![])),
            Reply::Traceback("Traceback ...".into()),
            Reply::Unserializable("no".into()),
            Reply::Proxy {
                exposed: vec!["get".into()],
                token,
            },
        ] {
            assert_eq!(Reply::from_value(reply.to_value()).unwrap(), reply);
        }
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        for bad in [
            PyValue::None,
            PyValue::Tuple(vec![PyValue::None]),
            PyValue::Tuple(vec![
                PyValue::Int(1),
                PyValue::str("m"),
                PyValue::Tuple(vec![]),
                PyValue::Dict(vec![]),
            ]),
            PyValue::Tuple(vec![
                PyValue::None,
                PyValue::str("m"),
                PyValue::Int(1),
                PyValue::Dict(vec![]),
            ]),
        ] {
            assert!(Request::from_value(bad).is_err());
        }
        for bad in [
            PyValue::Tuple(vec![PyValue::str("#NOPE"), PyValue::None]),
            PyValue::Tuple(vec![PyValue::str("#ERROR"), PyValue::Int(3)]),
            PyValue::Tuple(vec![PyValue::str("#PROXY"), PyValue::Tuple(vec![])]),
        ] {
            assert!(Reply::from_value(bad).is_err());
        }
    }
}
