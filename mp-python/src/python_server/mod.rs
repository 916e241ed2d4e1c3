//! An mp manager serving Python's stdlib manager clients
//! (`BaseManager(address, authkey).connect()`) from the same objects its
//! mp clients use: a listener on CPython's wire, the control calls, and
//! method calls turned into mp-manager's operations.

mod convert;
mod methods;
mod reprs;
mod typeids;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mp_manager::Registrar;
use mp_manager::adapter::{AdapterSession, Fault, ObjectId, ObjectTable};

use crate::connection::{Listener, PyConnection};
use crate::error::{ErrorKind, Result};
use crate::manager_protocol::{Reply, Request};
use crate::shapes::{PyException, Token};
use crate::value::PyValue;
use crate::{Address, Challenge};

/// Serves Python's stdlib manager clients from an mp manager's objects:
/// `BaseManager(address, authkey).connect()` (or a `SyncManager`) in a
/// Python program, against this listener, makes and uses the same queues,
/// dicts, lists, ... as the manager's mp clients.
///
/// | Python client | served as |
/// |---|---|
/// | `m.Queue(maxsize)`, `m.JoinableQueue(maxsize)` | a joinable queue |
/// | `m.dict(...)`, `m.list(...)`, `m.Namespace(...)`, `m.Value(t, v)`, `m.Array(t, seq)` | dict, list, namespace, value, array |
/// | `m.Lock()`, `m.RLock()`, `m.Semaphore(n)`, `m.BoundedSemaphore(n)`, `m.Event()`, `m.Condition()`, `m.Barrier(n)` | the same |
/// | `m.get_queue()` (any typeid the mp manager registered) | that object |
/// | `q.get_nowait()` on an empty queue, `d['x']` missing, `l[99]` | `queue.Empty`, `KeyError`, `IndexError`, ... as Python raises them |
///
/// Values are stored as [`Pickle`](crate::Pickle) items: an mp client
/// reads a Python client's `put` with `QueueProxy<Pickle<T>>` (and what it
/// puts as `Pickle(value)` a Python client gets as the mapped Python
/// value). Dict keys are re-encoded canonically, so `d['k']` in Python and
/// `dict.get(&Pickle("k"))` in Rust find the same entry; namespace
/// attribute names are plain strings, as mp's `Namespace` has them.
///
/// Nothing a Python client sends is run: requests are decoded as data
/// against the allow-list, a forbidden global is an error for that request
/// (Python sees `RemoteError`) and the connection keeps serving. What a
/// Python client gets was decoded as data on the way in and again on the
/// way out. Python's reference counts (`incref`/`decref`) become holds of
/// one mp session for all of this listener's Python clients, so an object
/// lives while a Python proxy of it does. TCP needs an authkey; an empty
/// key is refused; frames are limited as on mp's own wire.
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(manager), "::BaseManager;")]
#[doc = concat!("use ", crate::mp_crate!(python), "::{Address, Pickle, PythonClients};")]
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let python = PythonClients::bind(Address::localhost(0), b"secret")?;
/// println!("Python: BaseManager({:?}, b'secret').connect()", python.address());
/// let server = BaseManager::new()
///     .address(Address::unique())
///     .authkey(b"secret")
#[doc = concat!("    .register(\"get_queue\", ", crate::mp_crate!(manager), "::ServerObject::queue())")]
///     .serve_also(move |objects| python.serve(objects))
///     .get_server()?;
/// std::thread::spawn(move || server.serve_forever());
/// // mp clients: Manager::connect(...)?.get::<QueueProxy<Pickle<T>>>("get_queue")
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PythonClients {
    listener: Listener,
    address: PyValue,
}

impl PythonClients {
    /// Listens for Python clients at `address` with `authkey` (CPython's
    /// 3.12+ challenge; 3.11 clients answer it too). TCP binds loopback
    /// unless given another host.
    pub fn bind(address: impl Into<Address>, authkey: &[u8]) -> Result<PythonClients> {
        PythonClients::bind_with(address, authkey, Challenge::default())
    }

    /// Like [`bind`](PythonClients::bind), sending `challenge`.
    pub fn bind_with(
        address: impl Into<Address>,
        authkey: &[u8],
        challenge: Challenge,
    ) -> Result<PythonClients> {
        let listener = Listener::builder(address)
            .authkey(authkey)
            .challenge(challenge)
            .max_message_size(mp_manager::DEFAULT_MAX_MESSAGE_SIZE)
            .bind()?;
        let address = python_address(listener.address());
        Ok(PythonClients { listener, address })
    }

    /// Where Python clients connect (with the real port if port 0 was
    /// asked for).
    pub fn address(&self) -> &Address {
        self.listener.address()
    }

    /// Serves these clients from the manager whose registrar this is (in
    /// its server process, once it serves): call it from a
    /// `Registry::register`, or with a registrar of a manager made by
    /// `get_server`.
    pub fn register(self, registrar: &mut Registrar) {
        registrar.serve_also(move |table| self.serve(table));
    }

    /// Accepts and serves Python clients from `table` until the listener
    /// fails; each connection gets its own thread.
    pub fn serve(self, table: ObjectTable) {
        let server = Arc::new(Server {
            session: table.open_session(),
            table,
            address: self.address,
        });
        loop {
            match self.listener.accept() {
                Ok(conn) => {
                    let server = server.clone();
                    let _ = std::thread::Builder::new()
                        .name("mp-python-client".into())
                        .spawn(move || server.serve_connection(conn));
                }
                Err(e) if matches!(e.kind(), ErrorKind::Pipe(mp_pipe::Error::Closed)) => return,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// How Python writes an address in a `Token`.
fn python_address(address: &Address) -> PyValue {
    match address {
        Address::Tcp(addr) => PyValue::Tuple(vec![
            PyValue::str(addr.ip().to_string()),
            PyValue::int(i128::from(addr.port())),
        ]),
        Address::Unix(path) => PyValue::str(path.to_string_lossy()),
        Address::Abstract(name) => PyValue::str(format!("\0{}", String::from_utf8_lossy(name))),
    }
}

/// What every connection of one listener shares.
struct Server {
    table: ObjectTable,
    /// Python's reference counts, for every client of this listener.
    session: AdapterSession,
    address: PyValue,
}

/// One Python connection: its requests, in order.
pub(crate) struct Client<'a> {
    server: &'a Server,
    conn: &'a PyConnection,
    /// The lock-owner identity of this connection (Python proxies use one
    /// connection per thread).
    thread: u64,
}

impl Server {
    /// Serves one connection: one control call, or (after
    /// `accept_connection`) method calls until it closes.
    fn serve_connection(self: Arc<Server>, conn: PyConnection) {
        static THREADS: AtomicU64 = AtomicU64::new(1);
        let client = Client {
            server: &self,
            conn: &conn,
            thread: THREADS.fetch_add(1, Ordering::Relaxed),
        };
        let Some(request) = client.next_request() else {
            return;
        };
        let serve_methods = request
            .as_ref()
            .is_ok_and(|r| r.method == "accept_connection");
        let reply = match request {
            Ok(request) => client.control(&request),
            Err(reply) => reply,
        };
        if conn.send_value(&reply.to_value()).is_err() || !serve_methods {
            return;
        }
        while let Some(request) = client.next_request() {
            let reply = match request {
                Ok(request) => match client.method(request) {
                    Some(reply) => reply,
                    // The client hung up while the call waited.
                    None => return,
                },
                Err(reply) => reply,
            };
            if conn.send_value(&reply.to_value()).is_err() {
                return;
            }
        }
    }
}

impl Client<'_> {
    /// The next request, or the reply to one that cannot be read (the
    /// stream is still in step); `None` when the connection ends.
    fn next_request(&self) -> Option<std::result::Result<Request, Reply>> {
        match self.conn.recv_value() {
            Ok(value) => Some(Request::from_value(value).map_err(|e| traceback(&e.to_string()))),
            Err(e) => match e.kind() {
                ErrorKind::Eof
                | ErrorKind::TruncatedMessage
                | ErrorKind::Io(_)
                | ErrorKind::Timeout
                | ErrorKind::Pipe(_) => None,
                ErrorKind::MessageTooLarge { .. } => {
                    let _ = self.conn.send_value(&traceback(&e.to_string()).to_value());
                    None
                }
                _ => Some(Err(traceback(&format!("cannot read the request: {e}")))),
            },
        }
    }

    /// One control call (`id` is `None`).
    fn control(&self, request: &Request) -> Reply {
        if request.id.is_some() {
            return traceback("a control call names no object");
        }
        let server = self.server;
        match (request.method.as_str(), request.args.as_slice()) {
            ("dummy", []) => Reply::Return(PyValue::None),
            ("accept_connection", [_name]) => Reply::Return(PyValue::None),
            ("create", [PyValue::Str(typeid), args @ ..]) => {
                match typeids::create(self, typeid, args, &request.kwds) {
                    Ok((id, exposed)) => Reply::Return(PyValue::Tuple(vec![
                        PyValue::str(format!("{id:x}")),
                        exposed_value(exposed),
                    ])),
                    Err(reply) => reply,
                }
            }
            ("incref", [PyValue::Str(id)]) => match object_id(id) {
                Some(id) => match server.session.incref(id) {
                    Ok(()) => Reply::Return(PyValue::None),
                    Err(fault) => fault_traceback(&fault),
                },
                None => unknown_id(id),
            },
            ("decref", [PyValue::Str(id)]) => match object_id(id) {
                Some(id) => {
                    server.session.decref(id);
                    Reply::Return(PyValue::None)
                }
                None => unknown_id(id),
            },
            ("get_methods", [token]) => match Token::from_value(token) {
                Ok(token) => match object_id(&token.id).map(|id| server.table.kind(id)) {
                    Some(Ok(kind)) => Reply::Return(exposed_value(typeids::exposed(kind))),
                    _ => unknown_id(&token.id),
                },
                Err(e) => traceback(&e.to_string()),
            },
            ("number_of_objects", []) => {
                Reply::Return(PyValue::int(i128::from(server.table.debug_info().objects)))
            }
            ("debug_info", []) => {
                Reply::Return(PyValue::str(format!("{:?}", server.table.debug_info())))
            }
            ("shutdown", []) => traceback(
                "shutdown refused: this mp manager is stopped by the process that owns it",
            ),
            (method, _) => traceback(&format!(
                "AssertionError: {method:?} unrecognized (or its arguments are)"
            )),
        }
    }

    /// One method call on an object; `None` if the client hung up while
    /// it waited.
    fn method(&self, request: Request) -> Option<Reply> {
        let Some(id) = request.id.as_deref().and_then(object_id) else {
            return Some(traceback(&format!(
                "KeyError: {:?}: no such object",
                request.id
            )));
        };
        let kind = match self.server.table.kind(id) {
            Ok(kind) => kind,
            Err(fault) => return Some(fault_traceback(&fault)),
        };
        methods::call(self, id, kind, request)
    }

    pub(crate) fn execute(
        &self,
        id: ObjectId,
        op: mp_manager::adapter::Op,
    ) -> std::result::Result<mp_manager::adapter::Answer, Stop> {
        self.server
            .session
            .execute(self.conn.get_ref(), id, op)
            .map_err(|stop| match stop {
                mp_manager::adapter::Stop::Fault(fault) => Stop::Fault(fault),
                _ => Stop::HungUp,
            })
    }

    pub(crate) fn session(&self) -> &AdapterSession {
        &self.server.session
    }

    pub(crate) fn connection(&self) -> &PyConnection {
        self.conn
    }

    pub(crate) fn thread(&self) -> u64 {
        self.thread
    }

    /// A `#PROXY` reply for a new object this session holds.
    pub(crate) fn proxy(&self, typeid: &str, id: ObjectId, exposed: &[&str]) -> Reply {
        Reply::Proxy {
            exposed: exposed.iter().map(|m| (*m).to_owned()).collect(),
            token: Token {
                typeid: typeid.to_owned(),
                address: self.server.address.clone(),
                id: format!("{id:x}"),
            },
        }
    }
}

/// Why a method call has no plain answer.
pub(crate) enum Stop {
    /// The operation failed: Python gets the exception for it.
    Fault(Fault),
    /// Python gets this reply (an argument it got wrong, ...).
    Reply(Box<Reply>),
    /// The client hung up while the call waited.
    HungUp,
}

impl From<Fault> for Stop {
    fn from(fault: Fault) -> Stop {
        Stop::Fault(fault)
    }
}

impl From<Reply> for Stop {
    fn from(reply: Reply) -> Stop {
        Stop::Reply(Box::new(reply))
    }
}

fn object_id(hex: &str) -> Option<ObjectId> {
    u64::from_str_radix(hex, 16).ok()
}

fn exposed_value(exposed: &[&str]) -> PyValue {
    PyValue::Tuple(exposed.iter().map(|m| PyValue::str(*m)).collect())
}

pub(crate) fn traceback(text: &str) -> Reply {
    Reply::Traceback(format!(
        "Traceback (most recent call last):\n  (in an mp manager)\n{text}\n"
    ))
}

fn unknown_id(id: &str) -> Reply {
    traceback(&format!("KeyError: {id:?}"))
}

/// A fault of a control call or a lookup, as CPython's server reports
/// those: a traceback text (Python raises `RemoteError`).
pub(crate) fn fault_traceback(fault: &Fault) -> Reply {
    traceback(&mp_manager::Error::from(fault.clone()).to_string())
}

/// A Python exception, as `#ERROR` carries it.
pub(crate) fn raise(module: &str, name: &str, message: Option<PyValue>) -> Reply {
    Reply::Error(PyException::new(
        module,
        name,
        message.into_iter().collect(),
    ))
}
