//! mp as a client of a CPython manager server (`BaseManager`,
//! `SyncManager`, `BaseManager.get_server().serve_forever()`): the control
//! calls, method calls over pooled connections, reference counts, and
//! Python's exceptions mapped onto mp-manager's typed errors.

mod proxies;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mp_manager::{Error, RemoteError, Result};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use proxies::{PyDictProxy, PyListProxy, PyQueueProxy};

use crate::connection::{Client, PyConnection};
use crate::manager_protocol::{Reply, Request};
use crate::shapes::{PyException, Token};
use crate::value::PyValue;
use crate::{Address, ErrorKind};

/// Idle method-call connections kept per manager (each is a thread in the
/// Python server); more are closed after use.
const MAX_IDLE: usize = 8;

/// A connection to a CPython manager server (Python's
/// `BaseManager(address, authkey).connect()`): makes objects of its
/// registered typeids and hands out proxies to them.
///
/// | Python | mp-python |
/// |---|---|
/// | `m = SyncManager(address, authkey); m.connect()` | [`PyManager::connect(address, authkey)`](PyManager::connect) |
/// | `m.Queue()`, `m.Queue(maxsize)`, `m.JoinableQueue()` | [`queue`](PyManager::queue), [`bounded_queue`](PyManager::bounded_queue), [`joinable_queue`](PyManager::joinable_queue) -> [`PyQueueProxy`] |
/// | `m.dict()`, `m.list()` | [`dict`](PyManager::dict) -> [`PyDictProxy`], [`list`](PyManager::list) -> [`PyListProxy`] |
/// | `m.get_queue()` (a registered typeid) | [`create("get_queue", &())`](PyManager::create) -> [`PyProxy`] (`.into()` a typed proxy) |
/// | `queue.Empty`, `queue.Full`, `KeyError`, `IndexError`, `RemoteError` | `Error::Empty`, `Error::Full`, `Ok(None)`, `Error::IndexOutOfRange`, `Error::Remote` |
///
/// Calls are Python's `dispatch`: each control call (`create`, `incref`,
/// `decref`, ...) on a fresh authenticated connection, method calls on
/// connections opened with `accept_connection` and pooled, so a
/// `PyManager` and its proxies are `Send + Sync` and a blocked `get` holds
/// only its own connection. Values cross as pickles decoded as data.
///
/// # Example
///
/// ```no_run
#[doc = concat!("use ", crate::mp_crate!(python), "::PyManager;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
/// // Python: SyncManager(('127.0.0.1', 50000), authkey=b'key').get_server().serve_forever()
#[doc = concat!("let manager = PyManager::connect(", crate::mp_crate!(python), "::Address::localhost(50000), b\"key\")?;")]
/// let queue = manager.queue::<String>()?;
/// queue.put(&"from Rust".to_owned())?;
/// assert!(matches!(queue.try_get().as_deref(), Ok("from Rust")));
#[doc = concat!("assert!(matches!(queue.try_get(), Err(", crate::mp_crate!(manager), "::Error::Empty)));")]
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PyManager {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    idle: Mutex<Vec<PyConnection>>,
}

impl PyManager {
    /// Connects to the manager at `address` (Python's `connect()`, which
    /// sends the `dummy` control call). A wrong key is
    /// [`Error::Authentication`]; an empty key is refused.
    pub fn connect(address: impl Into<Address>, authkey: &[u8]) -> Result<PyManager> {
        PyManager::with_client(Client::builder(address).authkey(authkey))
    }

    /// Connects with a [`Client`] of your settings (connect timeout,
    /// challenge form, codec); every connection to the server is made
    /// with it.
    pub fn with_client(client: Client) -> Result<PyManager> {
        let manager = PyManager {
            shared: Arc::new(Shared {
                client,
                idle: Mutex::new(Vec::new()),
            }),
        };
        manager
            .shared
            .control("dummy", Vec::new())
            .map_err(|e| match e {
                Error::ManagerClosed => {
                    Error::Start("nothing answers at the manager's address".into())
                }
                other => other,
            })?;
        Ok(manager)
    }

    /// Makes an object of a registered `typeid` with `args` (a tuple, `()`
    /// for none) and returns a proxy holding one reference to it (Python's
    /// `m.<typeid>(*args)`). An unregistered typeid is
    /// [`Error::UnknownTypeid`].
    pub fn create<A: Serialize + ?Sized>(&self, typeid: &str, args: &A) -> Result<PyProxy> {
        let mut all = vec![PyValue::str(typeid)];
        all.extend(arguments(args)?);
        let reply = self.shared.control("create", all)?;
        let pair = reply.as_seq().filter(|pair| pair.len() == 2);
        let Some([PyValue::Str(id), exposed]) = pair else {
            return Err(Error::Decode(format!("create answered {reply:?}")));
        };
        Ok(PyProxy {
            shared: self.shared.clone(),
            id: id.clone(),
            typeid: typeid.to_owned(),
            exposed: method_names(exposed)?,
        })
    }

    /// `m.Queue()`.
    pub fn queue<T>(&self) -> Result<PyQueueProxy<T>> {
        Ok(self.create("Queue", &())?.into())
    }

    /// `m.Queue(maxsize)`.
    pub fn bounded_queue<T>(&self, maxsize: usize) -> Result<PyQueueProxy<T>> {
        Ok(self.create("Queue", &(maxsize,))?.into())
    }

    /// `m.JoinableQueue()`.
    pub fn joinable_queue<T>(&self) -> Result<PyQueueProxy<T>> {
        Ok(self.create("JoinableQueue", &())?.into())
    }

    /// `m.dict()`.
    pub fn dict<K, V>(&self) -> Result<PyDictProxy<K, V>> {
        Ok(self.create("dict", &())?.into())
    }

    /// `m.list()`.
    pub fn list<T>(&self) -> Result<PyListProxy<T>> {
        Ok(self.create("list", &())?.into())
    }

    /// How many objects the server holds (the `number_of_objects` call).
    pub fn number_of_objects(&self) -> Result<usize> {
        decode(self.shared.control("number_of_objects", Vec::new())?)
    }

    /// The server's description of its objects (the `debug_info` call).
    pub fn debug_info(&self) -> Result<String> {
        decode(self.shared.control("debug_info", Vec::new())?)
    }

    /// Stops the server (Python's `shutdown` control call); later calls
    /// fail with [`Error::ManagerClosed`].
    pub fn shutdown(&self) -> Result<()> {
        self.shared.idle.lock().clear();
        self.shared.control("shutdown", Vec::new()).map(drop)
    }
}

impl fmt::Debug for PyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyManager")
            .field("idle_connections", &self.shared.idle.lock().len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// One control call on its own connection, as Python's `dispatch`.
    fn control(&self, method: &str, args: Vec<PyValue>) -> Result<PyValue> {
        let conn = self.client.connect_now().map_err(transport)?;
        let request = Request {
            id: None,
            method: method.to_owned(),
            args,
            kwds: Vec::new(),
        };
        match exchange(&conn, &request, None)? {
            Reply::Return(value) => Ok(value),
            other => Err(failure(other, &request)),
        }
    }

    /// A pooled connection for method calls.
    fn connection(&self) -> Result<PyConnection> {
        if let Some(conn) = self.idle.lock().pop() {
            return Ok(conn);
        }
        let conn = self.client.connect_now().map_err(transport)?;
        let request = Request {
            id: None,
            method: "accept_connection".into(),
            args: vec![PyValue::str("mp")],
            kwds: Vec::new(),
        };
        match exchange(&conn, &request, None)? {
            Reply::Return(_) => Ok(conn),
            other => Err(failure(other, &request)),
        }
    }

    /// One method call; the connection goes back to the pool unless the
    /// exchange failed (a timeout leaves a reply in flight).
    fn call(&self, request: &Request, timeout: Option<Duration>) -> Result<Reply> {
        let conn = self.connection()?;
        let reply = exchange(&conn, request, timeout)?;
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(reply)
    }
}

/// Sends `request` and reads the reply.
fn exchange(conn: &PyConnection, request: &Request, timeout: Option<Duration>) -> Result<Reply> {
    conn.send_value(&request.to_value()).map_err(transport)?;
    let value = match timeout {
        Some(timeout) => conn.recv_value_timeout(timeout),
        None => conn.recv_value(),
    }
    .map_err(transport)?;
    Reply::from_value(value).map_err(|e| Error::Decode(e.to_string()))
}

/// A connection or decoding error as mp-manager's error.
fn transport(e: crate::Error) -> Error {
    match e.into_kind() {
        ErrorKind::Authentication(why) => Error::Authentication(why),
        ErrorKind::Eof | ErrorKind::TruncatedMessage => Error::ManagerClosed,
        ErrorKind::Timeout => Error::Timeout,
        ErrorKind::MessageTooLarge { len, limit } => Error::MessageTooLarge { len, limit },
        ErrorKind::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => Error::ManagerClosed,
            _ => Error::Io(e),
        },
        ErrorKind::Pipe(mp_pipe::Error::InsecureTcp) => Error::InsecureTcp,
        ErrorKind::Pipe(e) => Error::Pipe(e),
        kind => Error::Decode(crate::Error::from(kind).to_string()),
    }
}

/// What a reply other than `#RETURN` means.
fn failure(reply: Reply, request: &Request) -> Error {
    match reply {
        Reply::Return(value) => Error::Decode(format!("unexpected result {value:?}")),
        Reply::Error(exc) => raised(exc),
        Reply::Traceback(text) => traceback(text, request),
        Reply::Unserializable(text) => {
            Error::Remote(RemoteError::new(format!("Unserializable message: {text}")))
        }
        Reply::Proxy { token, .. } => Error::Decode(format!(
            "{} returned a proxy to a {}",
            request.method, token.typeid
        )),
    }
}

/// A Python exception a method raised, as mp-manager's error.
fn raised(exc: PyException) -> Error {
    match (exc.class.module.as_str(), exc.class.name.as_str()) {
        ("_queue" | "queue", "Empty") => Error::Empty,
        ("queue", "Full") => Error::Full,
        ("threading", "BrokenBarrierError") => Error::BrokenBarrier,
        _ => Error::Remote(RemoteError::new(describe(&exc))),
    }
}

/// `KeyError('x')`-like text for an exception.
fn describe(exc: &PyException) -> String {
    let args: Vec<String> = exc.args.iter().map(|a| format!("{a:?}")).collect();
    format!("{}({})", exc.class.name, args.join(", "))
}

/// What a `#TRACEBACK` means: a method not exposed, an unknown typeid or
/// object, or anything else as [`Error::Remote`].
fn traceback(text: String, request: &Request) -> Error {
    let last = text
        .lines()
        .rev()
        .find(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or("");
    if text.contains("is not in exposed=") {
        return Error::NotExposed(request.method.clone());
    }
    if last.starts_with("KeyError:") {
        if request.method == "create" {
            if let Some(PyValue::Str(typeid)) = request.args.first() {
                return Error::UnknownTypeid(typeid.clone());
            }
        }
        if let Some(id) = &request.id {
            return Error::UnknownObject(u64::from_str_radix(id, 16).unwrap_or(0));
        }
    }
    Error::Remote(RemoteError::new(text))
}

/// The arguments of a call: a serde tuple's items, none for `()`, or one
/// value.
fn arguments<A: Serialize + ?Sized>(args: &A) -> Result<Vec<PyValue>> {
    Ok(
        match crate::to_value(args).map_err(|e| Error::Encode(e.to_string()))? {
            PyValue::Tuple(items) => items,
            PyValue::None => Vec::new(),
            one => vec![one],
        },
    )
}

fn decode<T: DeserializeOwned>(value: PyValue) -> Result<T> {
    crate::from_value(value).map_err(|e| Error::Decode(e.to_string()))
}

fn method_names(value: &PyValue) -> Result<Vec<String>> {
    let names = value
        .as_seq()
        .ok_or_else(|| Error::Decode(format!("expected method names, got {value:?}")))?;
    names
        .iter()
        .map(|name| {
            name.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Decode(format!("expected a method name, got {name:?}")))
        })
        .collect()
}

/// A proxy to an object in a CPython manager (Python's `BaseProxy` /
/// `AutoProxy`): holds one reference, released when dropped (Python's
/// `decref`).
///
/// Call any exposed method with [`call`](PyProxy::call); the typed
/// proxies ([`PyQueueProxy`], [`PyDictProxy`], [`PyListProxy`]) are made
/// from it with `.into()`.
pub struct PyProxy {
    shared: Arc<Shared>,
    id: String,
    typeid: String,
    exposed: Vec<String>,
}

/// What a method call returned.
#[derive(Debug)]
pub enum Returned {
    /// A value (`#RETURN`).
    Value(PyValue),
    /// A new object the server holds for us (`#PROXY`), say the iterator
    /// a dict's `__iter__` returns.
    Proxy(PyProxy),
}

impl PyProxy {
    /// Calls `method(*args)` and reads the result as `R`. A Python
    /// exception maps onto [`Error`] (`queue.Empty` is [`Error::Empty`],
    /// ...; others are [`Error::Remote`] naming them).
    pub fn call<R: DeserializeOwned, A: Serialize + ?Sized>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R> {
        self.call_timeout(method, args, None)
    }

    /// Like [`call`](PyProxy::call), giving up with [`Error::Timeout`] if
    /// no reply came within `timeout` (`None`: wait).
    pub fn call_timeout<R: DeserializeOwned, A: Serialize + ?Sized>(
        &self,
        method: &str,
        args: &A,
        timeout: Option<Duration>,
    ) -> Result<R> {
        self.ask(method, arguments(args)?, timeout)?.value()
    }

    /// Calls `method(*args, **kwds)` with Python values.
    pub fn call_value(
        &self,
        method: &str,
        args: Vec<PyValue>,
        kwds: Vec<(PyValue, PyValue)>,
    ) -> Result<Returned> {
        let request = self.make_request(method, args, kwds)?;
        match self.shared.call(&request, None)? {
            Reply::Return(value) => Ok(Returned::Value(value)),
            Reply::Proxy { exposed, token } => Ok(Returned::Proxy(PyProxy {
                shared: self.shared.clone(),
                id: token.id,
                typeid: token.typeid,
                exposed,
            })),
            other => Err(failure(other, &request)),
        }
    }

    /// A second proxy to the same object, with its own reference
    /// (Python's `incref`).
    pub fn try_clone(&self) -> Result<PyProxy> {
        self.shared
            .control("incref", vec![PyValue::str(&self.id)])?;
        Ok(PyProxy {
            shared: self.shared.clone(),
            id: self.id.clone(),
            typeid: self.typeid.clone(),
            exposed: self.exposed.clone(),
        })
    }

    /// The object's id on the server.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The typeid it was made with.
    pub fn typeid(&self) -> &str {
        &self.typeid
    }

    /// The methods the server lets clients call.
    pub fn exposed(&self) -> &[String] {
        &self.exposed
    }

    /// The object's token (its address is left `None`: this proxy's
    /// manager knows where the server is).
    pub fn token(&self) -> Token {
        Token {
            typeid: self.typeid.clone(),
            address: PyValue::None,
            id: self.id.clone(),
        }
    }

    fn make_request(
        &self,
        method: &str,
        args: Vec<PyValue>,
        kwds: Vec<(PyValue, PyValue)>,
    ) -> Result<Request> {
        // '#GETVALUE' is served to every proxy (Python's `_getvalue`).
        if method != "#GETVALUE" && !self.exposed.iter().any(|m| m == method) {
            return Err(Error::NotExposed(method.to_owned()));
        }
        Ok(Request {
            id: Some(self.id.clone()),
            method: method.to_owned(),
            args,
            kwds,
        })
    }

    /// One method call and its raw reply (the typed proxies read
    /// `KeyError`, `IndexError`, ... their own way).
    fn ask(&self, method: &str, args: Vec<PyValue>, timeout: Option<Duration>) -> Result<Answer> {
        let request = self.make_request(method, args, Vec::new())?;
        let reply = self.shared.call(&request, timeout)?;
        Ok(Answer { request, reply })
    }
}

/// A request and the reply it got.
struct Answer {
    request: Request,
    reply: Reply,
}

impl Answer {
    /// The `#RETURN` value as `R`, or the error the reply means.
    fn value<R: DeserializeOwned>(self) -> Result<R> {
        match self.reply {
            Reply::Return(value) => decode(value),
            other => Err(failure(other, &self.request)),
        }
    }

    /// Whether the method raised the built-in exception `name`.
    fn raised(&self, name: &str) -> bool {
        matches!(&self.reply, Reply::Error(exc) if exc.class.is("builtins", name))
    }
}

impl Drop for PyProxy {
    fn drop(&mut self) {
        // The server may be gone already; nothing else to do then.
        let _ = self.shared.control("decref", vec![PyValue::str(&self.id)]);
    }
}

impl fmt::Debug for PyProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyProxy")
            .field("typeid", &self.typeid)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
