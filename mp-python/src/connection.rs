//! `multiprocessing.connection` on CPython's wire: [`Listener`] and
//! [`Client`] (mp-pipe's, with CPython's framing and handshake) and
//! [`PyConnection`], whose `send` / `recv` speak pickle as data.

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mp_pipe::{
    Address, Framing, Handshake, HandshakeSide, ListenerStats, NoHandshake, ToAddress, Waitable,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::error::Result;
use crate::handshake::{Challenge, CpythonHandshake};
use crate::value::PyValue;

fn standard_codec() -> Arc<Codec> {
    static STANDARD: OnceLock<Arc<Codec>> = OnceLock::new();
    STANDARD.get_or_init(|| Arc::new(Codec::new())).clone()
}

/// One end of a connection to a Python process (Python's
/// `multiprocessing.connection.Connection`), from [`Listener::accept`] or
/// [`Client::connect`].
///
/// [`send`](PyConnection::send) pickles a serde value (see the crate's
/// mapping table) and [`recv`](PyConnection::recv) decodes a pickle as
/// data against the codec's allow-list: nothing the peer sends is ever
/// imported, called or constructed by name. `send_bytes` / `recv_bytes`
/// move raw messages, as in Python. A message that does not decode (a
/// forbidden global, a value of another shape) is consumed and reported;
/// the connection stays usable.
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(python), "::{Address, Client, Listener};")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(python), "::Error> {")]
/// let listener = Listener::bind(Address::unique(), Some(b"secret"))?;
/// let address = listener.address().clone();
#[doc = concat!("let client = std::thread::spawn(move || -> Result<(), ", crate::mp_crate!(python), "::Error> {")]
///     // What Python's `Client(address, authkey=b"secret")` would do.
///     let conn = Client::connect(&address, Some(b"secret"))?;
///     conn.send(&("hello", vec![1, 2, 3]))
/// });
/// let conn = listener.accept()?;
/// let (word, numbers): (String, Vec<i64>) = conn.recv()?;
/// assert_eq!((word.as_str(), numbers), ("hello", vec![1, 2, 3]));
/// client.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PyConnection {
    conn: mp_pipe::Connection,
    codec: Arc<Codec>,
}

impl PyConnection {
    /// Speaks CPython's wire over a connected mp-pipe connection (its
    /// framing must be [`Framing::Cpython`], and no message sent yet).
    pub fn new(conn: mp_pipe::Connection) -> PyConnection {
        PyConnection::with_codec(conn, standard_codec())
    }

    fn with_codec(conn: mp_pipe::Connection, codec: Arc<Codec>) -> PyConnection {
        PyConnection { conn, codec }
    }

    /// Sends a serde value as a pickle (Python's `send`).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_bytes(&self.codec.to_pickle(value)?)
    }

    /// Like [`send`](PyConnection::send), giving up after `timeout` (see
    /// [`send_bytes_timeout`](PyConnection::send_bytes_timeout)).
    pub fn send_timeout<T: Serialize + ?Sized>(&self, value: &T, timeout: Duration) -> Result<()> {
        self.send_bytes_timeout(&self.codec.to_pickle(value)?, timeout)
    }

    /// Sends a Python value as a pickle.
    pub fn send_value(&self, value: &PyValue) -> Result<()> {
        self.send_bytes(&self.codec.encode(value)?)
    }

    /// Receives a pickle and reads it as `T` (Python's `recv`).
    ///
    /// [`ErrorKind::Eof`](crate::ErrorKind::Eof) once the peer closed and
    /// everything it sent was received.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        crate::from_value(self.recv_value()?)
    }

    /// Like [`recv`](PyConnection::recv), giving up with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) after `timeout`;
    /// a timeout loses nothing.
    pub fn recv_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        crate::from_value(self.recv_value_timeout(timeout)?)
    }

    /// Receives a pickle as a Python value (data only).
    pub fn recv_value(&self) -> Result<PyValue> {
        self.codec.decode(&self.recv_bytes()?)
    }

    /// Like [`recv_value`](PyConnection::recv_value), giving up after `timeout`.
    pub fn recv_value_timeout(&self, timeout: Duration) -> Result<PyValue> {
        self.codec.decode(&self.recv_bytes_timeout(timeout)?)
    }

    /// Sends raw bytes as one message (Python's `send_bytes`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        Ok(self.conn.send_bytes(bytes)?)
    }

    /// Like [`send_bytes`](PyConnection::send_bytes), giving up after
    /// `timeout`: [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) means
    /// nothing was written; if part of the message went out, the
    /// connection refuses further sends (the error says so).
    pub fn send_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        Ok(self.conn.send_bytes_timeout(bytes, timeout)?)
    }

    /// Receives one message as raw bytes (Python's `recv_bytes`).
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.sleep_until_readable(None)?;
        Ok(self.conn.recv_bytes()?)
    }

    /// Like [`recv_bytes`](PyConnection::recv_bytes), giving up after `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        let left = self.sleep_at_most(timeout)?;
        Ok(self.conn.recv_bytes_timeout(left)?)
    }

    /// [`sleep_until_readable`](Self::sleep_until_readable) for up to
    /// `timeout`; returns what is left of it for the receive.
    fn sleep_at_most(&self, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        self.sleep_until_readable(Some(deadline))?;
        Ok(deadline.saturating_duration_since(Instant::now()))
    }

    /// Sleeps until a message (or end of file) can be read, or `deadline`
    /// passes, without spinning first as mp-pipe's own waits do. A Python
    /// peer never spins: spinning against it only takes CPU from it, and
    /// keeps the scheduler from putting the two ends on one core, so each
    /// message then costs a cross-core wake-up (see the crate's README:
    /// the spin doubled a Python client's round trip in one bench run).
    fn sleep_until_readable(&self, deadline: Option<Instant>) -> Result<()> {
        if self.conn.closed() {
            // The receive reports it.
            return Ok(());
        }
        loop {
            // A message already buffered, or bytes there: no sleep (and no spin).
            if self.conn.poll(Duration::ZERO)? {
                return Ok(());
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return Ok(());
            }
            let timeout = left.map(|left| rustix::event::Timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            });
            let mut fds = [rustix::event::PollFd::new(
                &self.conn,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(std::io::Error::from(e).into()),
            }
        }
    }

    /// Receives one message into `buf` and returns its length (Python's
    /// `recv_bytes_into`); a longer message is handed over whole in
    /// `mp_pipe::Error::BufferTooShort`.
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
        self.sleep_until_readable(None)?;
        Ok(self.conn.recv_bytes_into(buf)?)
    }

    /// Like [`recv_bytes_into`](PyConnection::recv_bytes_into), giving up
    /// after `timeout`.
    pub fn recv_bytes_into_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        let left = self.sleep_at_most(timeout)?;
        Ok(self.conn.recv_bytes_into_timeout(buf, left)?)
    }

    /// Whether a message (or end of file) can be received without
    /// blocking, waiting up to `timeout` (Python's `poll`).
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        Ok(self.conn.poll(timeout)?)
    }

    /// Closes this end (Python's `close`); the peer sees end of file.
    pub fn close(&mut self) {
        self.conn.close();
    }

    /// Whether [`close`](PyConnection::close) was called.
    pub fn closed(&self) -> bool {
        self.conn.closed()
    }

    /// The underlying descriptor (Python's `fileno`).
    pub fn fileno(&self) -> Result<RawFd> {
        Ok(self.conn.fileno()?)
    }

    /// Limits the size of incoming messages (see
    /// `mp_pipe::Connection::set_max_message_size`).
    pub fn set_max_message_size(&self, bytes: u64) {
        self.conn.set_max_message_size(bytes);
    }

    /// The codec messages are pickled with.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// The mp-pipe connection underneath.
    pub fn get_ref(&self) -> &mp_pipe::Connection {
        &self.conn
    }

    /// The mp-pipe connection underneath, unwrapped.
    pub fn into_inner(self) -> mp_pipe::Connection {
        self.conn
    }
}

impl Waitable for PyConnection {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.conn.wait_fd()
    }

    fn ready_now(&self) -> bool {
        self.conn.ready_now()
    }
}

/// What [`Listener`] and [`Client`] add to mp-pipe's settings.
#[derive(Debug, Clone)]
struct Wire {
    authkey: Option<Vec<u8>>,
    challenge: Challenge,
    codec: Arc<Codec>,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            authkey: None,
            challenge: Challenge::default(),
            codec: standard_codec(),
        }
    }

    /// CPython's handshake with a key, none without (Python's
    /// `authkey=None`; TCP then needs `allow_insecure_tcp`).
    fn handshake(&self) -> Result<WireHandshake> {
        Ok(match &self.authkey {
            Some(key) => {
                WireHandshake::Cpython(CpythonHandshake::new(key)?.challenge(self.challenge))
            }
            None => WireHandshake::None(NoHandshake),
        })
    }
}

#[derive(Debug)]
enum WireHandshake {
    Cpython(CpythonHandshake),
    None(NoHandshake),
}

impl Handshake for WireHandshake {
    fn server(&self, max_message_size: u64) -> Box<dyn HandshakeSide> {
        match self {
            WireHandshake::Cpython(h) => h.server(max_message_size),
            WireHandshake::None(h) => h.server(max_message_size),
        }
    }

    fn client(&self, max_message_size: u64) -> Box<dyn HandshakeSide> {
        match self {
            WireHandshake::Cpython(h) => h.client(max_message_size),
            WireHandshake::None(h) => h.client(max_message_size),
        }
    }

    fn authenticates(&self) -> bool {
        matches!(self, WireHandshake::Cpython(_))
    }
}

/// The setters of [`Wire`], for both builders.
macro_rules! wire_setters {
    () => {
        /// Proves to the peer that this end holds `key`, and checks that
        /// the peer holds it too (Python's `authkey=`).
        pub fn authkey(mut self, key: &[u8]) -> Self {
            self.wire.authkey = Some(key.to_vec());
            self
        }

        /// The challenge form this end sends (default 3.12+'s sha256; a
        /// 3.11 peer answers it too). Answers are accepted in every form.
        pub fn challenge(mut self, challenge: Challenge) -> Self {
            self.wire.challenge = challenge;
            self
        }

        /// The codec (allow-list, limits) of the connections.
        pub fn codec(mut self, codec: Codec) -> Self {
            self.wire.codec = Arc::new(codec);
            self
        }

        /// Allows TCP without an authkey (anyone who can reach the port
        /// can send messages).
        pub fn allow_insecure_tcp(mut self, allow: bool) -> Self {
            self.inner = self.inner.allow_insecure_tcp(allow);
            self
        }

        /// The limit on incoming messages (default
        /// [`mp_pipe::DEFAULT_MAX_MESSAGE_SIZE`]).
        pub fn max_message_size(mut self, bytes: u64) -> Self {
            self.inner = self.inner.max_message_size(bytes);
            self
        }
    };
}

/// A socket that accepts Python's `multiprocessing.connection.Client`
/// (Python's `Listener`, on its wire).
///
/// The handshake is CPython's (both its 3.11 and 3.12+ forms, as the peer
/// speaks), the framing is CPython's, and mp-pipe's listener drives the
/// handshakes of all new peers at once (a silent peer delays nobody). A
/// peer with a wrong key gets `AuthenticationError` in Python and counts
/// in [`stats().refused()`](ListenerStats::refused) here. TCP needs an
/// authkey unless `allow_insecure_tcp`; an empty key is refused.
#[derive(Debug)]
pub struct Listener {
    inner: mp_pipe::Listener,
    codec: Arc<Codec>,
}

/// Settings for a [`Listener`]; made by [`Listener::builder`].
#[derive(Debug)]
pub struct ListenerBuilder {
    inner: mp_pipe::ListenerBuilder,
    wire: Wire,
}

impl ListenerBuilder {
    wire_setters!();

    /// How long a new peer has to finish the handshake (default 5 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.handshake_timeout(timeout);
        self
    }

    /// Binds and listens.
    pub fn bind(self) -> Result<Listener> {
        let handshake = self.wire.handshake()?;
        Ok(Listener {
            inner: self.inner.handshake(handshake).bind()?,
            codec: self.wire.codec,
        })
    }
}

impl Listener {
    /// Binds `address` (Python's `Listener(address, authkey=key)`): anything
    /// [`ToAddress`], such as `"127.0.0.1:6000"` or `("", 6000)`.
    pub fn bind(address: impl ToAddress, authkey: Option<&[u8]>) -> Result<Listener> {
        let mut builder = Listener::builder(address);
        if let Some(key) = authkey {
            builder = builder.authkey(key);
        }
        builder.bind()
    }

    /// Settings for a listener on `address`.
    pub fn builder(address: impl ToAddress) -> ListenerBuilder {
        ListenerBuilder {
            inner: mp_pipe::Listener::builder(address).framing(Framing::Cpython),
            wire: Wire::new(),
        }
    }

    /// Waits for a peer that passed the handshake (Python's `accept`).
    pub fn accept(&self) -> Result<PyConnection> {
        Ok(PyConnection::with_codec(
            self.inner.accept()?,
            self.codec.clone(),
        ))
    }

    /// Like [`accept`](Listener::accept), giving up after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<PyConnection> {
        Ok(PyConnection::with_codec(
            self.inner.accept_timeout(timeout)?,
            self.codec.clone(),
        ))
    }

    /// The address (with the real port if port 0 was asked for).
    pub fn address(&self) -> &Address {
        self.inner.address()
    }

    /// The peer address of the last accepted connection.
    pub fn last_accepted(&self) -> Option<Address> {
        self.inner.last_accepted()
    }

    /// Counts of accepted, refused and dropped peers.
    pub fn stats(&self) -> &ListenerStats {
        self.inner.stats()
    }

    /// Stops listening (Python's `close`).
    pub fn close(&mut self) {
        self.inner.close();
    }
}

impl Waitable for Listener {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.wait_fd()
    }
}

/// Connects to Python's `multiprocessing.connection.Listener` (Python's
/// `Client`, on its wire). A wrong key is
/// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) here
/// and `AuthenticationError` in the Python listener.
#[derive(Debug, Clone)]
pub struct Client {
    inner: mp_pipe::Client,
    wire: Wire,
}

impl Client {
    /// Connects and authenticates (Python's `Client(address, authkey=key)`):
    /// the address is anything [`ToAddress`], such as `"127.0.0.1:6000"`.
    pub fn connect(address: impl ToAddress, authkey: Option<&[u8]>) -> Result<PyConnection> {
        let mut client = Client::builder(address);
        if let Some(key) = authkey {
            client = client.authkey(key);
        }
        client.connect_now()
    }

    /// Settings for a connection to `address`.
    pub fn builder(address: impl ToAddress) -> Client {
        Client {
            inner: mp_pipe::Client::builder(address).framing(Framing::Cpython),
            wire: Wire::new(),
        }
    }

    wire_setters!();

    /// Gives up with a timeout if connecting and authenticating take longer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.timeout(timeout);
        self
    }

    /// Connects with these settings.
    pub fn connect_now(&self) -> Result<PyConnection> {
        let handshake = self.wire.handshake()?;
        Ok(PyConnection::with_codec(
            self.inner.clone().handshake(handshake).connect_now()?,
            self.wire.codec.clone(),
        ))
    }
}
