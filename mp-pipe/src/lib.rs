//! Connections between processes: Python's `multiprocessing.Pipe` and
//! `multiprocessing.connection` (`Listener`, `Client`, `wait`).
//!
//! | Python | mp-pipe |
//! |---|---|
//! | `a, b = Pipe()` | [`let (a, b) = pipe()?`](pipe) |
//! | `r, w = Pipe(duplex=False)` | [`let (r, w) = pipe_simplex()?`](pipe_simplex) |
//! | `conn.send(obj)` / `conn.recv()` | [`send`](Connection::send) / [`recv`](Connection::recv) (any serde value) |
//! | `send_bytes` / `recv_bytes` / `recv_bytes_into` | same names |
//! | `conn.poll(timeout)` | [`poll`](Connection::poll) |
//! | `Listener(address, authkey=k)` | [`Listener::bind(address, Some(k))`](Listener::bind) |
//! | `Client(address, authkey=k)` | [`Client::connect(&address, Some(k))`](Client::connect) |
//! | `wait(objects, timeout)` | [`wait`] |
//! | `EOFError`, `AuthenticationError`, `BufferTooShort` | [`Error::Eof`], [`Error::Authentication`], [`Error::BufferTooShort`] |
//!
//! What differs from CPython, on purpose:
//!
//! - Messages are serde values encoded with postcard, never pickles: a
//!   message cannot run code in the receiver.
//! - Every blocking call has a `_timeout` form, and a timeout never loses or
//!   tears a message.
//! - The ends of a [`pipe`] share memory: a small message without OS
//!   handles is handed over through a ring (well under a microsecond
//!   between two busy processes, where a socket costs a wake-up), the rest
//!   through the socket, in the order sent. A blocked `recv` spins briefly,
//!   then sleeps on the socket: idle ends cost no CPU, and `poll`, [`wait`]
//!   and end of file behave as before.
//! - Python warns that two processes reading from or writing to the same
//!   end of a pipe corrupt it. Here any number of processes (and threads)
//!   may send on and receive from copies of one [`pipe`] end, under every
//!   start method: every message arrives whole. A sender killed in the
//!   middle of a message costs only that message ([`Error::Torn`] at the
//!   receiver, then the next message). Connections made by a
//!   [`Listener`]/[`Client`] have no shared memory: there, use one process
//!   per direction. A stream that lost its framing is [`Error::Corrupt`],
//!   never an attempt to allocate what a garbled header announces.
//! - Every socket endpoint authenticates with HMAC-SHA256 both ways, TCP
//!   without an authkey is refused unless explicitly allowed, and incoming
//!   messages have a size limit.
//! - A `Connection` holding OS handles (another `Connection`, shared memory)
//!   can be sent over a Unix connection; the handles travel with `SCM_RIGHTS`.
//! - [`Listener::accept`] drives the handshakes of all new peers at once:
//!   no number of silent or garbage-sending peers delays one that
//!   authenticates (CPython's `accept` runs one handshake at a time).
//! - Both ends learn each other's size limit in the handshake (the ends of
//!   a [`pipe`] share theirs): a send the peer would refuse fails at once
//!   with [`Error::MessageTooLarge`] and writes nothing. (A client without
//!   an authkey returns from [`Client::connect`] before the listener
//!   answers, as in Python; it learns the limit from that answer, which it
//!   reads on its first receive.)
//! - With the `tls` feature, TCP connections can be encrypted (`mp_pipe::tls`);
//!   the authkey is still checked, inside TLS.
//! - With the `tokio` feature, `Connection::recv_async` and
//!   `recv_bytes_async` receive without blocking an async executor: the
//!   socket's readiness on tokio's reactor wakes them (no thread per
//!   wait), for socket connections and for pipe ends on the fast path.
//!
//! Seams for CPython's wire: [`Framing::Cpython`] speaks
//! `multiprocessing.connection`'s framing, and a [`Handshake`] (a state
//! machine per connection, [`MpHandshake`] by default, [`NoHandshake`] for
//! Python's `authkey=None`) plugs in another challenge/response.
//!
//! # Example
//!
//! ```
#![doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
#![doc = concat!("let (parent, child) = ", crate::mp_crate!(pipe), "::pipe()?;")]
//! std::thread::spawn(move || {
//!     for msg in ["hello", "hey", "END"] {
//!         child.send(msg).unwrap();
//!     }
//! });
//! loop {
//!     let msg: String = parent.recv()?;
//!     if msg == "END" {
//!         break;
//!     }
//!     println!("Received the message: {msg}");
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_pipe` in this
// crate's own docs, `mp::pipe` where the facade renders them.
mp_internal::doc_crate_paths!();

mod acceptor;
mod address;
mod auth;
mod client;
mod connection;
mod connection_wire;
mod deferred;
mod error;
mod fast_path;
mod fast_recv;
mod frame;
mod handshake;
mod lane;
mod listener;
mod pipe_ends;
mod poll;
mod reader;
#[cfg(feature = "tokio")]
mod recv_async;
mod segment;
mod socket;
#[cfg(feature = "tokio")]
mod sys_reactor;
#[cfg(feature = "tls")]
pub mod tls;
mod wait;

pub use acceptor::ListenerStats;
pub use address::{Address, AddressParseError, ToAddress};
pub use auth::{MpHandshake, random_authkey};
pub use client::Client;
pub use connection::Connection;
pub use error::{Error, Result};
pub use frame::Framing;
pub use handshake::{
    HANDSHAKE_MAX_MESSAGE_SIZE, Handshake, HandshakeSide, NoHandshake, Outcome, Status,
};
pub use listener::{DEFAULT_MAX_MESSAGE_SIZE, Listener, ListenerBuilder};
pub use pipe_ends::{pipe, pipe_simplex};
pub use wait::{Waitable, wait, wait_without_spin};
