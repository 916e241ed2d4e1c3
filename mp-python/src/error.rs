//! The crate's one error type: what went wrong decoding a pickle, encoding
//! a value, on a connection, in the handshake or in a manager call.

use std::fmt;
use std::io;

/// Everything that can go wrong in this crate. Cheap to move (one box);
/// [`kind`](Error::kind) says what happened.
pub struct Error(Box<ErrorKind>);

/// What went wrong. New kinds may be added, so match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The pickle names a global (a class or function) that is not on the
    /// allow-list. Nothing was imported, called or constructed.
    ForbiddenGlobal {
        /// The module, as written in the pickle (e.g. `os`).
        module: String,
        /// The name in that module (e.g. `system`).
        name: String,
    },
    /// An opcode this decoder does not accept (persistent ids, the
    /// extension registry, out-of-band buffers, protocol-0 text strings).
    UnsupportedOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its offset in the input.
        offset: usize,
    },
    /// A `PROTO` opcode above 5.
    UnsupportedProtocol(u8),
    /// The pickle is not well formed (stack underflow, wrong operand type,
    /// invalid UTF-8, a memo reference to an empty slot, trailing bytes...).
    Malformed {
        /// Offset of the opcode that failed.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The input ended before the pickle's `STOP`.
    Truncated,
    /// The value nests deeper than the decoder's limit.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The decoded value would be larger than the decoder's budget (shared
    /// references are copied, so a small pickle can describe a huge value).
    TooLarge {
        /// The budget, in items plus payload bytes.
        limit: usize,
    },
    /// The pickle describes a value that contains itself; plain data has
    /// no cycles.
    Recursive,
    /// A serde value could not be mapped to or from a Python value.
    Serde(String),
    /// The handshake failed: a wrong or empty authkey on either side, or a
    /// peer that does not speak it (Python's `AuthenticationError`).
    Authentication(String),
    /// A message is longer than the receiver's limit (256 bytes during the
    /// handshake). The stream is out of step afterwards: drop it.
    MessageTooLarge {
        /// The length the peer announced.
        len: u64,
        /// The receiver's limit.
        limit: u64,
    },
    /// The peer closed the connection between messages (Python's `EOFError`).
    Eof,
    /// The peer closed the connection in the middle of a message.
    TruncatedMessage,
    /// The deadline passed.
    Timeout,
    /// An operating-system error.
    Io(io::Error),
    /// Any other connection error (closed, torn by a timed-out send, a
    /// frame header no CPython writes, TLS, TCP without a key...).
    Pipe(mp_pipe::Error),
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The kind, by value.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// Whether this is an authentication failure (a wrong or empty key).
    pub fn is_authentication(&self) -> bool {
        matches!(*self.0, ErrorKind::Authentication(_))
    }

    pub(crate) fn malformed(offset: usize, reason: impl Into<String>) -> Error {
        ErrorKind::Malformed {
            offset,
            reason: reason.into(),
        }
        .into()
    }

    pub(crate) fn authentication(reason: impl Into<String>) -> Error {
        ErrorKind::Authentication(reason.into()).into()
    }

    pub(crate) fn forbidden(module: &str, name: &str) -> Error {
        ErrorKind::ForbiddenGlobal {
            module: module.to_owned(),
            name: name.to_owned(),
        }
        .into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error(Box::new(kind))
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout.into(),
            _ => ErrorKind::Io(e).into(),
        }
    }
}

impl From<mp_pipe::Error> for Error {
    fn from(e: mp_pipe::Error) -> Error {
        match e {
            mp_pipe::Error::Eof => ErrorKind::Eof,
            mp_pipe::Error::Truncated => ErrorKind::TruncatedMessage,
            mp_pipe::Error::Timeout => ErrorKind::Timeout,
            mp_pipe::Error::MessageTooLarge { len, limit } => {
                ErrorKind::MessageTooLarge { len, limit }
            }
            mp_pipe::Error::Authentication(why) => ErrorKind::Authentication(why),
            mp_pipe::Error::Io(e) => ErrorKind::Io(e),
            other => ErrorKind::Pipe(other),
        }
        .into()
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e.into_kind() {
            ErrorKind::Io(e) => e,
            ErrorKind::Pipe(e) => e.into(),
            ErrorKind::Timeout => io::Error::new(io::ErrorKind::TimedOut, "timed out"),
            ErrorKind::Eof | ErrorKind::TruncatedMessage => {
                io::Error::new(io::ErrorKind::UnexpectedEof, Error::from(ErrorKind::Eof))
            }
            kind => io::Error::new(io::ErrorKind::InvalidData, Error::from(kind)),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::ForbiddenGlobal { module, name } => {
                write!(
                    f,
                    "pickle names the global {module}.{name}, which is not on the allow-list"
                )
            }
            ErrorKind::UnsupportedOpcode { opcode, offset } => {
                write!(
                    f,
                    "unsupported pickle opcode {opcode:#04x} at offset {offset}"
                )
            }
            ErrorKind::UnsupportedProtocol(p) => write!(f, "unsupported pickle protocol {p}"),
            ErrorKind::Malformed { offset, reason } => {
                write!(f, "malformed pickle at offset {offset}: {reason}")
            }
            ErrorKind::Truncated => f.write_str("pickle ended before its STOP opcode"),
            ErrorKind::TooDeep { limit } => write!(f, "value nests deeper than {limit} levels"),
            ErrorKind::TooLarge { limit } => {
                write!(
                    f,
                    "decoded value would exceed the budget of {limit} items and bytes"
                )
            }
            ErrorKind::Recursive => f.write_str("pickle describes a value that contains itself"),
            ErrorKind::Serde(msg) => f.write_str(msg),
            ErrorKind::Authentication(msg) => write!(f, "authentication failed: {msg}"),
            ErrorKind::MessageTooLarge { len, limit } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the limit of {limit} bytes"
                )
            }
            ErrorKind::Eof => f.write_str("end of file: the peer closed the connection"),
            ErrorKind::TruncatedMessage => {
                f.write_str("the peer closed the connection in the middle of a message")
            }
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::Pipe(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            ErrorKind::Io(e) => Some(e),
            ErrorKind::Pipe(e) => Some(e),
            _ => None,
        }
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        ErrorKind::Serde(msg.to_string()).into()
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        ErrorKind::Serde(msg.to_string()).into()
    }
}

/// This crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
