//! The handshake seam: what runs on every new socket connection before
//! [`Listener::accept`](crate::Listener::accept) or
//! [`Client::connect`](crate::Client::connect) hands it over.
//!
//! A handshake is a pair of state machines, one per side, driven message
//! by message: a [`Listener`](crate::Listener) runs the server sides of
//! many handshakes at once on one thread, so a peer that never answers
//! holds no thread and delays nobody. mp's own HMAC-SHA256 handshake
//! ([`MpHandshake`](crate::MpHandshake)) is the default; another one (say,
//! CPython's challenge/response) plugs in with
//! [`ListenerBuilder::handshake`](crate::ListenerBuilder::handshake) and
//! [`Client::handshake`](crate::Client::handshake).

use std::fmt;

use mp_internal::Deadline;

use crate::connection::Connection;
use crate::error::{Error, Result};

/// The largest handshake message a side accepts unless it says otherwise
/// ([`HandshakeSide::max_message_size`]). Frames before authentication are
/// tiny; anything larger is an attack or noise.
pub const HANDSHAKE_MAX_MESSAGE_SIZE: u64 = 256;

/// A handshake: makes one side of it for each new connection.
///
/// Object safe: listeners and clients hold a `Box<dyn Handshake>` (or an
/// `Arc`). It runs inside TLS when the connection uses TLS, and with the
/// connection's [`Framing`](crate::Framing).
///
/// # Example
///
/// A handshake in which the client proves it knows a password by sending
/// it (a toy: use [`MpHandshake`](crate::MpHandshake) for real keys).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(pipe), "::{Address, Client, Error, Handshake, HandshakeSide, Listener, Outcome, Status};")]
///
/// #[derive(Debug)]
/// struct Password(&'static [u8]);
///
/// struct Server(&'static [u8]);
/// struct ClientSide(&'static [u8]);
///
/// impl HandshakeSide for Server {
///     fn step(&mut self, received: Option<&[u8]>, _send: &mut Vec<Vec<u8>>) -> Result<Status, Error> {
///         match received {
///             None => Ok(Status::Continue),
///             Some(word) if word == self.0 => Ok(Status::Done(Outcome::new())),
///             Some(_) => Err(Error::Authentication("wrong password".into())),
///         }
///     }
/// }
///
/// impl HandshakeSide for ClientSide {
///     fn step(&mut self, _received: Option<&[u8]>, send: &mut Vec<Vec<u8>>) -> Result<Status, Error> {
///         send.push(self.0.to_vec());
///         Ok(Status::Done(Outcome::new()))
///     }
/// }
///
/// impl Handshake for Password {
///     fn server(&self, _max_message_size: u64) -> Box<dyn HandshakeSide> {
///         Box::new(Server(self.0))
///     }
///     fn client(&self, _max_message_size: u64) -> Box<dyn HandshakeSide> {
///         Box::new(ClientSide(self.0))
///     }
///     fn authenticates(&self) -> bool {
///         true
///     }
/// }
///
/// # fn main() -> Result<(), Error> {
/// let listener = Listener::builder(Address::unique()).handshake(Password(b"sesame")).bind()?;
/// let conn = Client::builder(listener.address().clone())
///     .handshake(Password(b"sesame"))
///     .connect_now()?;
/// conn.send("hello")?;
/// assert_eq!(listener.accept()?.recv::<String>()?, "hello");
/// # Ok(())
/// # }
/// ```
pub trait Handshake: Send + Sync + fmt::Debug {
    /// Starts the listener's side of the handshake on one new connection.
    /// `max_message_size` is the listener's limit on incoming messages, for
    /// handshakes that announce it to the peer.
    fn server(&self, max_message_size: u64) -> Box<dyn HandshakeSide>;

    /// Starts the client's side (`max_message_size`: the client's limit).
    fn client(&self, max_message_size: u64) -> Box<dyn HandshakeSide>;

    /// Whether a peer that passes this handshake has proved who it is. A
    /// TCP listener or client with a handshake that does not is refused
    /// with [`Error::InsecureTcp`] unless `allow_insecure_tcp` is set.
    fn authenticates(&self) -> bool;
}

/// One side of one handshake in progress: a state machine fed with the
/// peer's messages.
pub trait HandshakeSide: Send {
    /// Advances the handshake. Called once with `None` when the connection
    /// is made, then once with each message the peer sends (each at most
    /// [`max_message_size`](HandshakeSide::max_message_size) bytes).
    ///
    /// Messages pushed onto `send` are sent in order before anything else
    /// happens, also when the step returns an error (so a side can tell
    /// the peer it failed). [`Status::Done`] ends the handshake: the
    /// connection is handed over, and any later bytes from the peer are its
    /// first messages. An error ends it too: the connection is closed, and
    /// the error is what `connect` returns (on the listener's side, an
    /// [`Error::Authentication`] counts in
    /// [`ListenerStats::refused`](crate::ListenerStats::refused)).
    fn step(&mut self, received: Option<&[u8]>, send: &mut Vec<Vec<u8>>) -> Result<Status>;

    /// The largest message this side accepts from the peer; a larger one
    /// fails the handshake before it is read.
    fn max_message_size(&self) -> u64 {
        HANDSHAKE_MAX_MESSAGE_SIZE
    }
}

/// Where a handshake stands after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the peer's next message.
    Continue,
    /// Finished: the connection is ready.
    Done(Outcome),
    /// The connection can be handed over now, before the peer answers: the
    /// rest of the handshake runs when the connection first receives (its
    /// `recv`, `poll`, or a [`wait`](crate::wait) on it), and a send reads
    /// the peer's answer if it has already arrived. An error there is what
    /// that receive returns (and every later one). For a side that has
    /// nothing to prove or check, as Python's `Client(address,
    /// authkey=None)`, which returns as soon as the connection is made, so
    /// a client can send (and close) before the listener accepts.
    Handover,
}

/// What a finished handshake learned about the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The peer's limit on the messages it receives, if it announced one:
    /// a larger send then fails with
    /// [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) before
    /// anything is written.
    pub peer_max_message_size: Option<u64>,
}

impl Outcome {
    /// An outcome that learned nothing.
    pub fn new() -> Outcome {
        Outcome::default()
    }

    /// With the peer's announced limit on the messages it receives.
    pub fn peer_max_message_size(mut self, bytes: u64) -> Outcome {
        self.peer_max_message_size = Some(bytes);
        self
    }
}

/// No handshake at all: the connection is handed over as soon as it is
/// made (Python's `Listener`/`Client` with `authkey=None` do this). It
/// authenticates nobody, so TCP needs `allow_insecure_tcp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHandshake;

impl Handshake for NoHandshake {
    fn server(&self, _max_message_size: u64) -> Box<dyn HandshakeSide> {
        Box::new(NoHandshake)
    }

    fn client(&self, _max_message_size: u64) -> Box<dyn HandshakeSide> {
        Box::new(NoHandshake)
    }

    fn authenticates(&self) -> bool {
        false
    }
}

impl HandshakeSide for NoHandshake {
    fn step(&mut self, _received: Option<&[u8]>, _send: &mut Vec<Vec<u8>>) -> Result<Status> {
        Ok(Status::Done(Outcome::new()))
    }
}

/// Runs one side of a handshake to the end on `conn` (or until it hands the
/// connection over), blocking until `deadline` at most; applies what it
/// learned to `conn`.
pub(crate) fn run(
    conn: &mut Connection,
    mut side: Box<dyn HandshakeSide>,
    deadline: &Deadline,
) -> Result<()> {
    let mut send = Vec::new();
    let mut received: Option<Vec<u8>> = None;
    loop {
        let status = side.step(received.as_deref(), &mut send);
        for message in send.drain(..) {
            if let Err(e) = conn.send_handshake(&message, deadline) {
                // The step's own error says more than a failed send.
                status?;
                return Err(in_handshake(conn, e));
            }
        }
        match status? {
            Status::Continue => {}
            Status::Done(outcome) => {
                conn.set_peer_max_message_size(outcome.peer_max_message_size);
                return Ok(());
            }
            Status::Handover => {
                conn.defer_handshake(side);
                return Ok(());
            }
        }
        received = Some(
            conn.recv_handshake(side.max_message_size(), deadline)
                .map_err(|e| in_handshake(conn, e))?,
        );
    }
}

/// What a transport error during the handshake means.
pub(crate) fn in_handshake(conn: &Connection, e: Error) -> Error {
    match e {
        Error::Eof | Error::Truncated => {
            Error::Authentication("the peer closed the connection during the handshake".into())
        }
        Error::MessageTooLarge { len, .. } if conn.framing().looks_like_tls(len) => Error::Tls(
            "the peer speaks TLS and this end does not (enable TLS on both ends, or on neither)"
                .into(),
        ),
        Error::MessageTooLarge { .. } => {
            Error::Authentication("oversized handshake message".into())
        }
        other => other,
    }
}
