//! The errors of the pool and of its tasks.

use std::fmt;

/// What can go wrong with a pool or one of its tasks.
///
/// Task errors (`WorkerLost`, `Panicked`, `Encode`, `Decode`) belong to one
/// task: the pool and its other tasks go on. The rest describe the pool or
/// the call. Errors are values (`Clone`, `PartialEq`) so that one failure
/// can be reported for every task it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The worker running the task died (killed by a signal, `abort`,
    /// segfault, `exit`): `exitcode` is its exit code, or minus the signal
    /// number. CPython's pool hangs forever here.
    WorkerLost {
        /// The worker's exit code; negative: killed by that signal.
        exitcode: i32,
    },
    /// The task panicked; the panic message.
    Panicked(String),
    /// An argument (in this process) or a result (in the worker) could not
    /// be serialized.
    Encode(String),
    /// An argument (in the worker) or a result (in this process) could not
    /// be deserialized.
    Decode(String),
    /// A `_timeout` call ran out of time (the task itself keeps running).
    Timeout,
    /// The pool was closed: it takes no new tasks (Python's `ValueError:
    /// Pool not running`).
    Closed,
    /// The pool was terminated (explicitly, or by being dropped) before the
    /// task finished.
    Terminated,
    /// Ctrl-C (SIGINT) arrived during a blocking pool call; the pool was
    /// terminated (Python's `KeyboardInterrupt`).
    Interrupted,
    /// `successful` was called before the result was ready (Python's
    /// `ValueError`).
    NotReady,
    /// The value of this `AsyncResult` was already taken by an earlier
    /// `get_timeout`.
    ResultTaken,
    /// `join` was called on a pool that is neither closed nor terminated
    /// (Python's `ValueError: Pool is still running`).
    StillRunning,
    /// A setting is out of range (`processes = 0`, `maxtasksperchild = 0`,
    /// `chunksize = 0`, ...).
    InvalidSetting(String),
    /// The initializer failed in a worker (its panic message); the pool
    /// stopped, and every task not yet finished fails with this error.
    Initializer(String),
    /// A worker (its process, queue or shared slot) could not be started.
    Start(String),
    /// A blocking pool call was made from a callback, which runs on the
    /// pool's result thread: it would wait for itself forever.
    CalledFromCallback,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WorkerLost { exitcode } if *exitcode < 0 => write!(
                f,
                "the worker running the task died (killed by signal {})",
                -exitcode
            ),
            Error::WorkerLost { exitcode } => {
                write!(f, "the worker running the task died (exit code {exitcode})")
            }
            Error::Panicked(message) => write!(f, "the task panicked: {message}"),
            Error::Encode(why) => write!(f, "cannot encode: {why}"),
            Error::Decode(why) => write!(f, "cannot decode: {why}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Closed => f.write_str("the pool is closed: it takes no new tasks"),
            Error::Terminated => f.write_str("the pool was terminated"),
            Error::Interrupted => f.write_str("interrupted (SIGINT): the pool was terminated"),
            Error::NotReady => f.write_str("the result is not ready"),
            Error::ResultTaken => f.write_str("the result was already taken"),
            Error::StillRunning => {
                f.write_str("the pool is still running: close() or terminate() it before join()")
            }
            Error::InvalidSetting(why) => write!(f, "invalid setting: {why}"),
            Error::Initializer(message) => write!(f, "the initializer failed: {message}"),
            Error::Start(why) => write!(f, "cannot start a worker: {why}"),
            Error::CalledFromCallback => {
                f.write_str("a blocking pool call from a callback would wait for itself forever")
            }
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
