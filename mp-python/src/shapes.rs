//! Typed views of the allow-listed objects that cross a CPython manager
//! connection: exceptions, `Token`s and pickled proxies.

use crate::error::{ErrorKind, Result};
use crate::value::{Construct, Global, PyObject, PyValue};

const MANAGERS: &str = "multiprocessing.managers";

fn shape_error(what: &str, value: &PyValue) -> crate::Error {
    ErrorKind::Serde(format!(
        "expected {what}, got a Python {}",
        value.type_name()
    ))
    .into()
}

fn object<'a>(value: &'a PyValue, what: &str) -> Result<&'a PyObject> {
    match value {
        PyValue::Object(o) => Ok(o),
        other => Err(shape_error(what, other)),
    }
}

/// An exception as data: its class, `args`, and the attribute dict some
/// exceptions carry (pickled as `class(*args)` then `BUILD dict`).
///
/// `('#ERROR', KeyError('k'))` from a manager decodes to a `PyValue`
/// whose second item gives `PyException { class: builtins.KeyError, args:
/// ['k'], state: None }`.
#[derive(Clone, Debug, PartialEq)]
pub struct PyException {
    /// The class (`builtins.KeyError`, `_queue.Empty`, ...).
    pub class: Global,
    /// The exception's `args`.
    pub args: Vec<PyValue>,
    /// Its `__dict__`, if it was pickled with one.
    pub state: Option<PyValue>,
}

impl PyException {
    /// `module.name(*args)`.
    pub fn new(module: &str, name: &str, args: Vec<PyValue>) -> PyException {
        PyException {
            class: Global::new(module, name),
            args,
            state: None,
        }
    }

    /// A built-in exception: `builtins.<name>(*args)`.
    pub fn builtin(name: &str, args: Vec<PyValue>) -> PyException {
        PyException::new("builtins", name, args)
    }

    /// The exception's `PyValue` (an object called with its args).
    pub fn to_value(&self) -> PyValue {
        let mut object = PyObject::call(self.class.clone(), self.args.clone());
        object.state = self.state.clone();
        object.into()
    }

    /// Reads an exception from a decoded value (any allow-listed class
    /// pickled as a call).
    pub fn from_value(value: &PyValue) -> Result<PyException> {
        let o = object(value, "an exception")?;
        if o.construct != Construct::Call || !o.kwargs.is_empty() {
            return Err(shape_error("an exception", value));
        }
        Ok(PyException {
            class: o.class.clone(),
            args: o.args.clone(),
            state: o.state.clone(),
        })
    }
}

/// A manager's `multiprocessing.managers.Token`: which object on which
/// server. It pickles as `Token.__new__(Token)` then `BUILD (typeid,
/// address, id)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The registered type name (`'dict'`, `'Queue'`, ...).
    pub typeid: String,
    /// The server's address: `('host', port)` or a socket path.
    pub address: PyValue,
    /// The object's id on the server (a hex string).
    pub id: String,
}

impl Token {
    /// The token's `PyValue`.
    pub fn to_value(&self) -> PyValue {
        let state = PyValue::Tuple(vec![
            PyValue::str(&self.typeid),
            self.address.clone(),
            PyValue::str(&self.id),
        ]);
        PyObject::new_with_state(Global::new(MANAGERS, "Token"), state).into()
    }

    /// Reads a token from a decoded value.
    pub fn from_value(value: &PyValue) -> Result<Token> {
        let o = object(value, "a Token")?;
        let fields = match (&o.state, o.class.is(MANAGERS, "Token")) {
            (Some(PyValue::Tuple(fields)), true) => fields,
            _ => return Err(shape_error("a Token", value)),
        };
        match fields.as_slice() {
            [PyValue::Str(typeid), address, PyValue::Str(id)] => Ok(Token {
                typeid: typeid.clone(),
                address: address.clone(),
                id: id.clone(),
            }),
            _ => Err(shape_error("a Token (typeid, address, id)", value)),
        }
    }
}

/// A pickled manager proxy: `RebuildProxy(proxytype, token, serializer,
/// kwds)`, as `BaseProxy.__reduce__` writes it. `proxytype` is `AutoProxy`
/// or a proxy class (`multiprocessing.managers.DictProxy`, ...); `kwds` may
/// hold `exposed` (method names).
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyRef {
    /// `AutoProxy` or the proxy class.
    pub proxy_type: Global,
    /// The referent.
    pub token: Token,
    /// `'pickle'` or `'xmlrpclib'`.
    pub serializer: String,
    /// The keyword arguments for `proxy_type` (e.g. `exposed`).
    pub kwds: Vec<(PyValue, PyValue)>,
}

impl ProxyRef {
    /// The proxy's `PyValue`.
    pub fn to_value(&self) -> PyValue {
        PyObject::call(
            Global::new(MANAGERS, "RebuildProxy"),
            vec![
                PyValue::Global(self.proxy_type.clone()),
                self.token.to_value(),
                PyValue::str(&self.serializer),
                PyValue::Dict(self.kwds.clone()),
            ],
        )
        .into()
    }

    /// Reads a pickled proxy from a decoded value.
    pub fn from_value(value: &PyValue) -> Result<ProxyRef> {
        let o = object(value, "a proxy")?;
        if !o.class.is(MANAGERS, "RebuildProxy") || o.construct != Construct::Call {
            return Err(shape_error("a proxy (RebuildProxy)", value));
        }
        match o.args.as_slice() {
            [
                PyValue::Global(proxy_type),
                token,
                PyValue::Str(serializer),
                PyValue::Dict(kwds),
            ] => Ok(ProxyRef {
                proxy_type: proxy_type.clone(),
                token: Token::from_value(token)?,
                serializer: serializer.clone(),
                kwds: kwds.clone(),
            }),
            _ => Err(shape_error(
                "RebuildProxy(func, token, serializer, kwds)",
                value,
            )),
        }
    }
}
