//! What can go wrong with a queue: [`Error`], mapped onto Python's
//! `queue.Full`, `queue.Empty` and the rest.

use std::fmt;
use std::io;

/// What can go wrong with a queue (Python's `queue.Full`, `queue.Empty`,
/// `ValueError` on a closed queue, ...).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No room before the timeout (or at once, for `try_put`): the queue
    /// holds `maxsize` items, or the ring is full (Python's `queue.Full`).
    Full,
    /// Nothing arrived before the timeout (or at once, for `try_get`)
    /// (Python's `queue.Empty`).
    Empty,
    /// `close` was called on this queue in this process.
    Closed,
    /// The queue was shut down (by any process, Python 3.13's
    /// `queue.ShutDown`): a `put` after `shutdown`, a `get` once a shut
    /// down queue is empty, or any `get` after `shutdown(immediate)`.
    ShutDown,
    /// The item could not be serialized; nothing was put.
    Encode(mp_handle::Error),
    /// An item could not be deserialized as the requested type; it was
    /// taken off the queue, and the queue stays usable.
    Decode(mp_handle::Error),
    /// A message was lost because the process putting or getting it died
    /// in the middle; it was dropped, and the queue goes on with the next.
    Torn,
    /// `task_done` was called more times than items were put (Python's
    /// `ValueError: task_done() called too many times`).
    TooManyTaskDone,
    /// `join_timeout` ran out of time.
    Timeout,
    /// Creating or attaching the queue's shared memory failed.
    Io(io::Error),
    /// The queue's process-shared locks failed.
    Lock(mp_shm::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("queue is full"),
            Error::Empty => f.write_str("queue is empty"),
            Error::Closed => f.write_str("queue is closed"),
            Error::ShutDown => f.write_str("queue is shut down"),
            Error::Encode(e) | Error::Decode(e) => write!(f, "{e}"),
            Error::Torn => {
                f.write_str("a message was lost: the process putting or getting it died")
            }
            Error::TooManyTaskDone => f.write_str("task_done() called too many times"),
            Error::Timeout => f.write_str("timed out"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Lock(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Encode(e) | Error::Decode(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Lock(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<mp_shm::Error> for Error {
    fn from(e: mp_shm::Error) -> Error {
        Error::Lock(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
