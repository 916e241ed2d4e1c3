//! The errors of starting, joining and signalling processes.

use std::fmt;
use std::io;

/// What can go wrong when starting, joining or signalling a process.
///
/// Python raises `AssertionError`/`ValueError`/`OSError` for these; each is
/// a variant here.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `start` was called twice.
    AlreadyStarted,
    /// `join`/`terminate`/... before `start`.
    NotStarted,
    /// `close` while the process is still running.
    StillRunning,
    /// The handle was closed with `close`.
    Closed,
    /// The process was started by another process; only its parent can join it.
    NotOurChild,
    /// A capturing closure can only run under the `Fork` start method.
    ClosureNeedsFork,
    /// This process is a daemon, and daemons may not start children
    /// (Python's "daemonic processes are not allowed to have children"):
    /// a daemon is terminated when its parent exits, and its children
    /// would be left without the parent that joins them.
    DaemonCannotStartChildren,
    /// The arguments could not be serialized; nothing was started.
    Encode(mp_handle::Error),
    /// mp's start-up hook is not in this binary, so a re-executed child
    /// could not find its way back; use the `Fork` start method.
    StartUpHookMissing,
    /// The binary given to [`set_executable`](crate::set_executable) is
    /// not this program, so it could not run this program's children.
    Executable {
        /// The binary.
        path: std::path::PathBuf,
        /// Why it was refused.
        why: String,
    },
    /// `set_start_method` was already called with another method.
    StartMethodAlreadySet(crate::method::StartMethod),
    /// The forkserver could not be started or talked to.
    Forkserver(String),
    /// Talking to the child over its bootstrap connection failed.
    Pipe(mp_pipe::Error),
    /// An operating-system error.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyStarted => f.write_str("processes can only be started once"),
            Error::NotStarted => f.write_str("the process has not been started"),
            Error::StillRunning => f.write_str("cannot close a process while it is still running"),
            Error::Closed => f.write_str("process object is closed"),
            Error::NotOurChild => {
                f.write_str("can only join or signal a child process of this process")
            }
            Error::ClosureNeedsFork => f.write_str(
                "a capturing closure can only run under the Fork start method; \
                 use a fn item with serde arguments for Spawn and Forkserver",
            ),
            Error::DaemonCannotStartChildren => {
                f.write_str("daemonic processes are not allowed to have children")
            }
            Error::Encode(e) => write!(f, "cannot send the arguments to the child: {e}"),
            Error::StartUpHookMissing => f.write_str(
                "mp's start-up hook did not run in this binary, so a re-executed child \
                 cannot find its target; use StartMethod::Fork",
            ),
            Error::Executable { path, why } => {
                write!(f, "cannot start children from {}: {why}", path.display())
            }
            Error::StartMethodAlreadySet(m) => write!(f, "the start method was already set to {m}"),
            Error::Forkserver(why) => write!(f, "forkserver: {why}"),
            Error::Pipe(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Encode(e) => Some(e),
            Error::Pipe(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Error {
        Error::Io(e.into())
    }
}

impl From<mp_pipe::Error> for Error {
    fn from(e: mp_pipe::Error) -> Error {
        Error::Pipe(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why [`JoinHandle::join`](crate::JoinHandle::join) did not return a value.
#[derive(Debug)]
#[non_exhaustive]
pub enum JoinError {
    /// The function panicked; this is the panic message.
    Panicked(String),
    /// The process ended without reporting a result: it called `exit(n)`
    /// (`exitcode` n) or was killed by a signal (`exitcode` -signal).
    Died {
        /// The exit code, Python style: negative for a signal.
        exitcode: i32,
    },
    /// The child could not decode its arguments or encode its result.
    Failed(String),
    /// The result arrived but did not decode as the expected type.
    Decode(mp_pipe::Error),
    /// `join_timeout` ran out of time; the handle can be joined again.
    Timeout,
    /// The value was already taken by an earlier `join_timeout`.
    AlreadyJoined,
    /// Waiting for the process failed.
    Process(Error),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(msg) => write!(f, "the child panicked: {msg}"),
            JoinError::Died { exitcode } if *exitcode < 0 => {
                write!(f, "the child was killed by signal {}", -exitcode)
            }
            JoinError::Died { exitcode } => {
                write!(f, "the child exited with code {exitcode} without a result")
            }
            JoinError::Failed(why) => write!(f, "{why}"),
            JoinError::Decode(e) => write!(f, "the child's result could not be decoded: {e}"),
            JoinError::Timeout => f.write_str("timed out waiting for the child"),
            JoinError::AlreadyJoined => f.write_str("the child's result was already taken"),
            JoinError::Process(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for JoinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinError::Decode(e) => Some(e),
            JoinError::Process(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for JoinError {
    fn from(e: Error) -> JoinError {
        JoinError::Process(e)
    }
}
