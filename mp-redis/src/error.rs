//! What can go wrong with a Redis queue, a pool, one of its tasks, or Redis itself.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What can go wrong.
///
/// Queue errors map onto Python's (`Full`, `Empty`, `ValueError` on
/// `task_done`), pool task errors onto mp-pool's (`WorkerLost`, `Panicked`,
/// ...); the rest say what Redis did. Errors are values (`Clone`,
/// `PartialEq`, serde) so one failure can be reported for every task it
/// concerns, and a worker's error crosses to the caller intact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// No room before the timeout (or at once, for `try_put`): the queue
    /// holds `maxsize` waiting items (Python's `queue.Full`).
    Full,
    /// Nothing arrived before the timeout (or at once, for `try_get`)
    /// (Python's `queue.Empty`).
    Empty,
    /// The queue or pool handle was closed in this process.
    Closed,
    /// A `_timeout` call ran out of time.
    Timeout,
    /// A value could not be serialized; nothing was sent.
    Encode(String),
    /// A value could not be deserialized as the requested type (for a queue
    /// item: it was taken off the queue, and the queue stays usable).
    Decode(String),
    /// `task_done` was called more times than items were put (Python's
    /// `ValueError: task_done() called too many times`).
    TooManyTaskDone,
    /// Redis could not be reached, or the connection broke or timed out
    /// (refused, unreachable, restarted). The next call reconnects.
    Unavailable(String),
    /// Redis refused the credentials of the URL (`AUTH`, ACL user).
    Auth(String),
    /// Redis answered with an error (a wrong type at a key, a denied
    /// command, out of memory, ...).
    Redis(String),
    /// The URL is not a Redis URL this build can use (`rediss://` needs
    /// the `tls` feature).
    InvalidUrl(String),
    /// The task was handed to `deliveries` workers in a row and each of
    /// them died (or stopped answering) before finishing it: it is not
    /// retried again (a poison task).
    WorkerLost {
        /// How many workers took the task.
        deliveries: u32,
    },
    /// The task panicked in the worker; the panic message.
    Panicked(String),
    /// The worker that took the task runs a different build of the program:
    /// it refused to run it (function names mean the same code only within
    /// one build).
    WrongBuild {
        /// The caller's build fingerprint.
        caller: String,
        /// The worker's build fingerprint.
        worker: String,
    },
    /// The function was not registered with [`register!`](crate::register)
    /// in this program, so no worker could run it.
    NotRegistered(String),
    /// The pool was terminated (explicitly, or by being dropped) before the
    /// task finished.
    Terminated,
    /// `join` was called on a pool that is neither closed nor terminated.
    StillRunning,
    /// `successful` was called before the result was ready.
    NotReady,
    /// The value of this `AsyncResult` was already taken.
    ResultTaken,
    /// A setting is out of range (`chunksize = 0`, an empty name, ...).
    InvalidSetting(String),
    /// A local worker process could not be started.
    Start(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("queue is full"),
            Error::Empty => f.write_str("queue is empty"),
            Error::Closed => f.write_str("closed"),
            Error::Timeout => f.write_str("timed out"),
            Error::Encode(why) => write!(f, "cannot encode: {why}"),
            Error::Decode(why) => write!(f, "cannot decode: {why}"),
            Error::TooManyTaskDone => f.write_str("task_done() called too many times"),
            Error::Unavailable(why) => write!(f, "Redis is unavailable: {why}"),
            Error::Auth(why) => write!(f, "Redis refused the credentials: {why}"),
            Error::Redis(why) => write!(f, "Redis error: {why}"),
            Error::InvalidUrl(why) => write!(f, "invalid Redis URL: {why}"),
            Error::WorkerLost { deliveries } => write!(
                f,
                "the task was given to {deliveries} workers and each died before finishing it"
            ),
            Error::Panicked(message) => write!(f, "the task panicked: {message}"),
            Error::WrongBuild { caller, worker } => write!(
                f,
                "the worker runs a different build of the program (worker {worker}, caller {caller}): it refused the task"
            ),
            Error::NotRegistered(name) => write!(
                f,
                "{name} is not registered: add `mp_redis::register!(...)` for it"
            ),
            Error::Terminated => f.write_str("the pool was terminated"),
            Error::StillRunning => {
                f.write_str("the pool is still running: close() or terminate() it before join()")
            }
            Error::NotReady => f.write_str("the result is not ready"),
            Error::ResultTaken => f.write_str("the result was already taken"),
            Error::InvalidSetting(why) => write!(f, "invalid setting: {why}"),
            Error::Start(why) => write!(f, "cannot start a worker: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        use redis::ErrorKind;
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            return Error::Unavailable(e.to_string());
        }
        match e.kind() {
            ErrorKind::AuthenticationFailed => Error::Auth(e.to_string()),
            ErrorKind::InvalidClientConfig => Error::InvalidUrl(e.to_string()),
            ErrorKind::Server(redis::ServerErrorKind::BusyLoading) => {
                Error::Unavailable(e.to_string())
            }
            _ if e.code() == Some("WRONGPASS") || e.code() == Some("NOAUTH") => {
                Error::Auth(e.to_string())
            }
            _ => Error::Redis(e.to_string()),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
