//! The crate's one error type, and its mapping onto `io::Error`.

use std::fmt;
use std::io;

/// Everything that can go wrong on a [`Connection`](crate::Connection), a
/// [`Listener`](crate::Listener) or a [`Client`](crate::Client).
///
/// Python raises `EOFError`, `BufferTooShort`, `AuthenticationError` and
/// `OSError`; here they are variants of one enum.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// This end was closed with `close()`; nothing more can be done with it.
    Closed,
    /// The peer closed its end and every message it sent has been received
    /// (Python's `EOFError`).
    Eof,
    /// The peer closed its end in the middle of a message: the partial
    /// message is dropped.
    Truncated,
    /// A blocking call ran out of time. Nothing was consumed or written, so
    /// the call can be retried.
    Timeout,
    /// The receiving end of a simplex pipe was used to send.
    NotWritable,
    /// The sending end of a simplex pipe was used to receive.
    NotReadable,
    /// A message is larger than the receiving end's limit.
    ///
    /// On `recv`: the incoming message was skipped, and the next `recv`
    /// returns the message after it. On `send`: the peer's limit is known
    /// (the other end of a pipe, or announced in the handshake) and the
    /// message is over it; nothing was written and the connection stays
    /// usable.
    MessageTooLarge {
        /// The message's length.
        len: u64,
        /// The receiving end's limit ([`Connection::set_max_message_size`](crate::Connection::set_max_message_size)).
        limit: u64,
    },
    /// `recv_bytes_into` was given a buffer shorter than the message; the
    /// whole message is handed over here, nothing is lost.
    BufferTooShort(Vec<u8>),
    /// The value could not be serialized; nothing was sent.
    Encode(mp_handle::Error),
    /// The message could not be deserialized as the requested type; it was
    /// consumed and the connection stays usable.
    Decode(mp_handle::Error),
    /// The value holds OS handles but this connection (TCP) cannot carry them.
    HandlesNotSupported,
    /// A message was cut short by its sender.
    ///
    /// On `send_timeout`: the time ran out after part of the message was
    /// written. On a socket connection the stream cannot be resynchronised
    /// and this end refuses further sends; on a [`pipe`](crate::pipe) the
    /// receiver drops the partial message and the pipe stays usable.
    ///
    /// On `recv` (pipes): the sender of the message died, or gave up,
    /// partway through it. What arrived of it was dropped; the next `recv`
    /// returns the message after it.
    Torn,
    /// The stream lost its framing: a frame header no sender writes (an
    /// absurd length), a message that does not match its announcement, or
    /// the rest of a message whose receiver died halfway through it. The
    /// text says which. Never an attempt to allocate what a corrupt header
    /// announces.
    Corrupt(String),
    /// The peer sent bytes that are not mp framing (or broke the protocol).
    Protocol(String),
    /// Authentication failed (Python's `AuthenticationError`): a wrong key on
    /// either side, or a peer that does not speak the handshake.
    Authentication(String),
    /// TCP without an authkey was refused; see `allow_insecure_tcp`.
    InsecureTcp,
    /// TLS failed: the peer does not speak TLS while this end does (or the
    /// reverse), its certificate is not trusted, or the certificate and key
    /// files could not be used.
    Tls(String),
    /// The address given as a string (or `(host, port)`) is not one: no
    /// socket was made.
    Address(crate::AddressParseError),
    /// An operating-system error.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("connection is closed"),
            Error::Eof => f.write_str("end of file: the peer closed the connection"),
            Error::Truncated => f.write_str("the peer closed the connection in the middle of a message"),
            Error::Timeout => f.write_str("timed out"),
            Error::NotWritable => f.write_str("connection is read-only"),
            Error::NotReadable => f.write_str("connection is write-only"),
            Error::MessageTooLarge { len, limit } => {
                write!(f, "message of {len} bytes exceeds this connection's limit of {limit} bytes")
            }
            Error::BufferTooShort(msg) => {
                write!(f, "buffer too short for a message of {} bytes", msg.len())
            }
            Error::Encode(e) => write!(f, "{e}"),
            Error::Decode(e) => write!(f, "{e}"),
            Error::HandlesNotSupported => {
                f.write_str("value holds OS handles, which a TCP connection cannot carry")
            }
            Error::Torn => f.write_str("a message was cut short by its sender (it timed out or died mid-message)"),
            Error::Corrupt(why) => write!(f, "corrupt stream: {why}"),
            Error::Protocol(why) => write!(f, "protocol error: {why}"),
            Error::Authentication(why) => write!(f, "authentication failed: {why}"),
            Error::InsecureTcp => f.write_str(
                "TCP without an authkey is refused (anyone who can reach the port could talk to it); \
                 give an authkey or call allow_insecure_tcp(true)",
            ),
            Error::Tls(why) => write!(f, "TLS: {why}"),
            Error::Address(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Encode(e) | Error::Decode(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Address(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::AddressParseError> for Error {
    fn from(e: crate::AddressParseError) -> Error {
        Error::Address(e)
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

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io(inner) => return io::Error::new(inner.kind(), e),
            Error::Eof | Error::Truncated => io::ErrorKind::UnexpectedEof,
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Authentication(_) | Error::InsecureTcp | Error::Tls(_) => {
                io::ErrorKind::PermissionDenied
            }
            Error::Encode(_)
            | Error::Decode(_)
            | Error::Protocol(_)
            | Error::Corrupt(_)
            | Error::MessageTooLarge { .. } => io::ErrorKind::InvalidData,
            Error::BufferTooShort(_) | Error::NotReadable | Error::NotWritable => {
                io::ErrorKind::InvalidInput
            }
            Error::Address(_) => io::ErrorKind::InvalidInput,
            Error::Closed | Error::Torn => io::ErrorKind::BrokenPipe,
            Error::HandlesNotSupported => io::ErrorKind::Unsupported,
        };
        io::Error::new(kind, e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
