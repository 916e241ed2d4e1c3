//! The errors of manager calls ([`Error`], [`RemoteError`]) and how they
//! map onto Python's exceptions and `io::Error`.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

use crate::wire::Fault;

/// Everything a manager, a proxy or a server can fail with.
///
/// Python raises `EOFError`/`BrokenPipeError` when the manager is gone,
/// `AuthenticationError` on a wrong key, `IndexError`, `KeyError`,
/// `queue.Empty`, `queue.Full`, `BrokenBarrierError`, `RuntimeError`, or a
/// `RemoteError` wrapping the server's traceback; here each is a variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The manager was shut down (or its server process died): every proxy
    /// call fails with this, at once, never a hang.
    ManagerClosed,
    /// Authentication failed: the authkeys differ (Python's
    /// `AuthenticationError`). The server refuses the peer as well.
    Authentication(String),
    /// TCP without an authkey was refused: anyone who can reach the port could
    /// use the manager.
    InsecureTcp,
    /// The manager could not be reached when connecting (nothing listens at
    /// the address, a network error, a timeout); the underlying error says why.
    Connect(mp_pipe::Error),
    /// The address given as a string (or `(host, port)`) is not one;
    /// nothing was started or connected.
    Address(mp_pipe::AddressParseError),
    /// The server process could not be started or did not come up.
    Start(String),
    /// A value could not be serialized (it holds an OS handle, or its
    /// `Serialize` failed); nothing was sent.
    Encode(String),
    /// A value from the server did not deserialize as the proxy's type (the
    /// object holds values of another type).
    Decode(String),
    /// The proxy's object no longer exists on the server (every proxy of it
    /// was dropped), or never existed.
    UnknownObject(u64),
    /// The object is not of the kind this proxy or operation needs (a
    /// `ListProxy` for a dict, `fetch_add` on a value that is not a number of
    /// that type, ...).
    WrongType {
        /// What the caller expected.
        expected: String,
        /// What the server holds.
        found: String,
    },
    /// A list index past the end (Python's `IndexError`).
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// The length of the list at the time.
        len: u64,
    },
    /// A `Namespace` has no attribute of this name (Python's `AttributeError`).
    NoAttribute(String),
    /// A queue was empty: `try_get`, or `get_timeout` ran out of time
    /// (Python's `queue.Empty`).
    Empty,
    /// A bounded queue was full: `try_put`, or `put_timeout` ran out of time
    /// (Python's `queue.Full`).
    Full,
    /// A barrier was broken (aborted, reset, or a waiter timed out or
    /// vanished) while or before waiting (Python's `BrokenBarrierError`).
    BrokenBarrier,
    /// A lock operation needs the lock to be held by the caller (releasing an
    /// `RLock` owned by another thread, `Condition::wait` without the lock;
    /// Python's `RuntimeError`).
    NotOwner,
    /// A bounded semaphore was released more often than acquired, or
    /// `task_done` was called more often than `put` (Python's `ValueError`).
    TooManyReleases,
    /// The server did not answer in time.
    Timeout,
    /// The name was not registered with the server (Python's `KeyError` on
    /// an unknown typeid).
    UnknownTypeid(String),
    /// The method is not in the shared type's `exposed()` list, so clients
    /// may not call it.
    NotExposed(String),
    /// A request (or value) exceeded the server's message size limit; the
    /// server dropped that connection and keeps serving everyone else.
    MessageTooLarge {
        /// The announced length.
        len: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The server refused a request it could not understand.
    BadRequest(String),
    /// A user type registered with the server returned an error.
    Remote(RemoteError),
    /// A connection error other than the server going away.
    Pipe(mp_pipe::Error),
    /// Starting or stopping the server process failed.
    Process(mp_process::Error),
    /// An operating-system error.
    Io(io::Error),
    /// The queue was shut down (Python 3.13's `queue.ShutDown`): a `put`
    /// after `shutdown`, a `get` once a shut down queue is empty.
    ShutDown,
    /// The initializer given to [`BaseManager::initializer`](crate::BaseManager::initializer)
    /// panicked in the server process (its message); the server did not start.
    Initializer(String),
    /// A [`SharedMemoryManager`](crate::SharedMemoryManager) was used before
    /// `start` (Python's `ValueError`).
    NotStarted,
    /// A shared memory segment could not be made or attached.
    Shm(mp_shm::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ManagerClosed => {
                f.write_str("the manager is closed (shut down, or its server is gone)")
            }
            Error::Authentication(why) => write!(f, "authentication failed: {why}"),
            Error::InsecureTcp => f.write_str(
                "a manager on TCP needs an authkey (anyone who can reach the port could use it)",
            ),
            Error::Connect(e) => write!(f, "cannot connect to the manager: {e}"),
            Error::Address(e) => write!(f, "{e}"),
            Error::Start(why) => write!(f, "cannot start the manager's server: {why}"),
            Error::Encode(why) => write!(f, "cannot encode the value: {why}"),
            Error::Decode(why) => write!(f, "cannot decode the value from the manager: {why}"),
            Error::UnknownObject(id) => write!(f, "the manager has no object #{id:x}"),
            Error::WrongType { expected, found } => {
                write!(
                    f,
                    "wrong type: expected {expected}, the manager holds {found}"
                )
            }
            Error::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for a list of length {len}")
            }
            Error::NoAttribute(name) => write!(f, "the namespace has no attribute {name:?}"),
            Error::Empty => f.write_str("the queue is empty"),
            Error::Full => f.write_str("the queue is full"),
            Error::BrokenBarrier => f.write_str("the barrier is broken"),
            Error::NotOwner => f.write_str("the lock is not held by the caller"),
            Error::TooManyReleases => f.write_str("released (or task_done) too many times"),
            Error::Timeout => f.write_str("the manager did not answer in time"),
            Error::UnknownTypeid(name) => {
                write!(f, "no typeid {name:?} is registered with the manager")
            }
            Error::NotExposed(name) => write!(f, "method {name:?} is not exposed"),
            Error::MessageTooLarge { len, limit } => write!(
                f,
                "a message of {len} bytes exceeds the manager's limit of {limit} bytes"
            ),
            Error::BadRequest(why) => write!(f, "the manager refused the request: {why}"),
            Error::Remote(e) => write!(f, "{e}"),
            Error::Pipe(e) => write!(f, "{e}"),
            Error::Process(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::ShutDown => f.write_str("the queue is shut down"),
            Error::Initializer(why) => write!(f, "the manager's initializer failed: {why}"),
            Error::NotStarted => f.write_str("the manager has not been started"),
            Error::Shm(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(e) | Error::Pipe(e) => Some(e),
            Error::Remote(e) => Some(e),
            Error::Process(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Shm(e) => Some(e),
            Error::Address(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<mp_process::Error> for Error {
    fn from(e: mp_process::Error) -> Error {
        Error::Process(e)
    }
}

impl From<RemoteError> for Error {
    fn from(e: RemoteError) -> Error {
        Error::Remote(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io(inner) => inner.kind(),
            Error::ManagerClosed => io::ErrorKind::BrokenPipe,
            Error::Authentication(_) | Error::InsecureTcp => io::ErrorKind::PermissionDenied,
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Encode(_) | Error::Decode(_) | Error::MessageTooLarge { .. } => {
                io::ErrorKind::InvalidData
            }
            Error::UnknownObject(_)
            | Error::UnknownTypeid(_)
            | Error::NoAttribute(_)
            | Error::IndexOutOfRange { .. } => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error raised on the server by a registered user type (Python's
/// `RemoteError`); it travels back to the caller as
/// [`Error::Remote`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    message: String,
}

impl RemoteError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> RemoteError {
        RemoteError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote error: {}", self.message)
    }
}

impl std::error::Error for RemoteError {}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Error {
        match fault {
            Fault::UnknownObject(id) => Error::UnknownObject(id),
            Fault::WrongKind { expected, found } => Error::WrongType {
                expected,
                found: found.to_string(),
            },
            Fault::WrongValue(why) => Error::WrongType {
                expected: why,
                found: "a value of another type".to_owned(),
            },
            Fault::IndexOutOfRange { index, len } => Error::IndexOutOfRange { index, len },
            Fault::NoAttribute(name) => Error::NoAttribute(name),
            Fault::Empty => Error::Empty,
            Fault::Full => Error::Full,
            Fault::BrokenBarrier => Error::BrokenBarrier,
            Fault::NotOwner => Error::NotOwner,
            Fault::TooManyReleases => Error::TooManyReleases,
            Fault::UnknownTypeid(name) => Error::UnknownTypeid(name),
            Fault::NotExposed(name) => Error::NotExposed(name),
            Fault::MessageTooLarge { len, limit } => Error::MessageTooLarge { len, limit },
            Fault::BadRequest(why) => Error::BadRequest(why),
            Fault::Remote(e) => Error::Remote(e),
            Fault::ShuttingDown => Error::ManagerClosed,
            Fault::QueueShutDown => Error::ShutDown,
        }
    }
}

/// Whether an `mp_pipe` error means the server is gone.
pub(crate) fn is_gone(e: &mp_pipe::Error) -> bool {
    match e {
        mp_pipe::Error::Eof | mp_pipe::Error::Truncated | mp_pipe::Error::Closed => true,
        mp_pipe::Error::Io(io) => matches!(
            io.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected
                | io::ErrorKind::NotFound
        ),
        _ => false,
    }
}

/// Maps an error talking to an established server.
pub(crate) fn from_pipe(e: mp_pipe::Error) -> Error {
    if is_gone(&e) {
        return Error::ManagerClosed;
    }
    match e {
        mp_pipe::Error::Authentication(why) => Error::Authentication(why),
        mp_pipe::Error::InsecureTcp => Error::InsecureTcp,
        mp_pipe::Error::Timeout => Error::Timeout,
        mp_pipe::Error::Encode(e) => Error::Encode(e.to_string()),
        mp_pipe::Error::Decode(e) => Error::Decode(e.to_string()),
        mp_pipe::Error::MessageTooLarge { len, limit } => Error::MessageTooLarge { len, limit },
        other => Error::Pipe(other),
    }
}
