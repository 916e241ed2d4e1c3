//! `Listener`: binds an address and hands over peers that passed the
//! handshake.

use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::Waitable;
use crate::acceptor::{Acceptor, ListenerStats, Settings};
use crate::address::{Address, AddressParseError, ToAddress};
use crate::auth::choose_handshake;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::frame::Framing;
use crate::handshake::Handshake;
use mp_internal::Deadline;

/// Incoming messages on socket connections are limited to this by default.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 1 << 30;

/// How long a new peer has to finish the handshake by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many peers may be in the middle of the handshake at once by default.
const DEFAULT_MAX_PENDING: usize = 256;

/// A socket that accepts [`Connection`]s (Python's
/// `multiprocessing.connection.Listener`).
///
/// [`accept`](Listener::accept) drives the handshakes of all new peers at
/// once, message by message, and returns only peers that passed: no number
/// of silent, slow or garbage-sending peers delays one that authenticates.
/// (The handshakes advance while a thread waits in `accept`, as in Python;
/// the listener has no thread of its own.) With an authkey
/// the handshake is a mutual HMAC-SHA256 challenge/response; a wrong key
/// is [`Error::Authentication`] for the client and counts in
/// [`stats().refused()`](ListenerStats::refused) here. A peer has
/// [`handshake_timeout`](ListenerBuilder::handshake_timeout) to finish, and
/// at most [`max_pending_handshakes`](ListenerBuilder::max_pending_handshakes)
/// are pending (the oldest makes room for a new one). TCP without an
/// authkey is refused unless explicitly allowed.
///
/// The socket closes when the listener is closed or dropped.
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(pipe), "::{Address, Client, Listener};")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
/// let listener = Listener::bind(Address::unique(), Some(b"secret"))?;
/// let address = listener.address().clone();
#[doc = concat!("let client = std::thread::spawn(move || -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
///     let conn = Client::connect(&address, Some(b"secret"))?;
///     conn.send("hello")
/// });
/// let conn = listener.accept()?;
/// assert_eq!(conn.recv::<String>()?, "hello");
/// client.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct Listener {
    acceptor: Option<Acceptor>,
    stats: ListenerStats,
    address: Address,
    authenticated: bool,
    last_accepted: Mutex<Option<Address>>,
    /// The socket file this listener created, removed on close.
    socket_file: Option<PathBuf>,
}

/// Settings for a [`Listener`]; made by [`Listener::builder`].
#[derive(Debug, Clone)]
pub struct ListenerBuilder {
    /// A string that is not an address fails at `bind`.
    address: std::result::Result<Address, AddressParseError>,
    authkey: Option<Vec<u8>>,
    handshake: Option<Arc<dyn Handshake>>,
    framing: Framing,
    allow_insecure_tcp: bool,
    backlog: i32,
    max_message_size: u64,
    handshake_timeout: Duration,
    max_pending: usize,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsServer>,
}

impl ListenerBuilder {
    /// Requires peers to prove they hold `key` (and proves it to them). An
    /// empty key is refused by [`bind`](ListenerBuilder::bind).
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// Runs `handshake` on every new peer instead of mp's own
    /// ([`MpHandshake`](crate::MpHandshake)); see [`Handshake`]. It replaces
    /// the authkey setting: giving both is an error at bind.
    pub fn handshake(mut self, handshake: impl Handshake + 'static) -> Self {
        self.handshake = Some(Arc::new(handshake));
        self
    }

    /// The framing of accepted connections (default [`Framing::Mp`]).
    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Allows TCP without an authkey. Anyone who can reach the port can then
    /// send messages; only do this on a trusted network.
    pub fn allow_insecure_tcp(mut self, allow: bool) -> Self {
        self.allow_insecure_tcp = allow;
        self
    }

    /// The `listen` backlog (default 1024, so a burst of peers connecting at
    /// once is not turned away by the kernel).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The limit on incoming messages of accepted connections (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]). mp's handshake tells it to clients,
    /// whose larger sends then fail at once.
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a new peer has to complete the handshake (default 5 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How many peers may be in the middle of the handshake at once
    /// (default 256); when a new one comes in beyond that, the oldest
    /// pending one is dropped.
    pub fn max_pending_handshakes(mut self, count: usize) -> Self {
        self.max_pending = count.max(1);
        self
    }

    /// Speaks TLS on accepted connections (TCP only), with the handshake
    /// running inside it. A plain client is refused with a clear
    /// [`Error::Tls`] on both sides.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsServer) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Binds and listens. Binding an address
    /// that is in use (another listener, or a leftover socket file) is an
    /// error.
    pub fn bind(self) -> Result<Listener> {
        let requested = self.address?;
        let handshake = choose_handshake(
            &requested,
            self.authkey.as_deref(),
            self.handshake.clone(),
            self.allow_insecure_tcp,
        )?;
        #[cfg(feature = "tls")]
        if self.tls.is_some() && !requested.is_tcp() {
            return Err(Error::Tls("TLS runs over TCP only".into()));
        }
        let (fd, socket_file) = match &requested {
            Address::Tcp(addr) => {
                let fd = new_socket(tcp_family(addr))?;
                rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
                rustix::net::bind(&fd, addr)?;
                (fd, None)
            }
            unix => {
                let fd = new_socket(AddressFamily::UNIX)?;
                let addr = unix.unix_addr()?.expect("a Unix address");
                rustix::net::bind(&fd, &addr)?;
                let file = match unix {
                    Address::Unix(path) => Some(path.clone()),
                    _ => None,
                };
                (fd, file)
            }
        };
        rustix::net::listen(&fd, self.backlog)?;
        // Port 0 becomes the real port.
        let address = Address::from_any(rustix::net::getsockname(&fd)?)
            .filter(|_| requested.is_tcp())
            .unwrap_or_else(|| requested.clone());
        let mut listener = Listener {
            acceptor: None,
            stats: ListenerStats::default(),
            address,
            authenticated: handshake.authenticates(),
            last_accepted: Mutex::new(None),
            socket_file,
        };
        let settings = Settings {
            handshake,
            max_message_size: self.max_message_size,
            framing: self.framing,
            unix: !requested.is_tcp(),
            handshake_timeout: self.handshake_timeout,
            max_pending: self.max_pending,
            #[cfg(feature = "tls")]
            tls: self.tls,
        };
        // On failure the listener's drop removes the socket file.
        let acceptor = Acceptor::new(fd, settings)?;
        listener.stats = acceptor.stats().clone();
        listener.acceptor = Some(acceptor);
        Ok(listener)
    }
}

impl Listener {
    /// Binds `address` with the given authkey (see [`Listener::builder`] for
    /// more settings). The address is anything [`ToAddress`], as Python
    /// writes it: `"127.0.0.1:0"`, `"/tmp/app.sock"`, `("", 6000)`, an
    /// [`Address`]; a string that is none is [`Error::Address`].
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
            address: address.to_address(),
            authkey: None,
            handshake: None,
            framing: Framing::Mp,
            allow_insecure_tcp: false,
            backlog: 1024,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Waits for a peer that passed the handshake and returns its
    /// connection (Python's `accept`). Peers that fail the handshake are
    /// not returned; they count in [`stats`](Listener::stats).
    pub fn accept(&self) -> Result<Connection> {
        self.accept_until(&Deadline::never())
    }

    /// Like [`accept`](Listener::accept), giving up with [`Error::Timeout`]
    /// after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection> {
        self.accept_until(&Deadline::after(timeout))
    }

    /// The address this listener is bound to (with the real port if port 0
    /// was asked for).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The peer address of the last accepted connection (Python's
    /// `last_accepted`); an unnamed Unix peer shows as an empty path.
    pub fn last_accepted(&self) -> Option<Address> {
        self.last_accepted.lock().clone()
    }

    /// Counts of accepted, refused and dropped peers; the handle stays
    /// live (it can be kept and read from another thread).
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }

    /// Stops listening: the socket closes, with the peers still in their
    /// handshake (and the socket file it created is removed). Later `accept`s fail with
    /// [`Error::Closed`]; closing twice is fine.
    pub fn close(&mut self) {
        if self.acceptor.take().is_some() {
            self.remove_socket_file();
        }
    }

    /// Stops listening in a forked child that copied this listener from its
    /// parent: every descriptor of it closes (the socket, the peers in
    /// their handshake, the connections not yet taken), the rest is leaked
    /// instead of freed (see [`Connection::abandon`]), and the socket file
    /// stays: it is the parent's, which goes on listening.
    pub fn abandon(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abandon();
        }
        std::mem::forget(self);
    }

    fn accept_until(&self, deadline: &Deadline) -> Result<Connection> {
        let acceptor = self.acceptor.as_ref().ok_or(Error::Closed)?;
        let (conn, peer) = acceptor.accept(deadline)?;
        *self.last_accepted.lock() = peer;
        Ok(conn)
    }

    fn remove_socket_file(&self) {
        if let Some(path) = &self.socket_file {
            // Only remove what is still a socket: never someone else's file.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.acceptor.take();
        self.remove_socket_file();
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticated", &self.authenticated)
            .field("closed", &self.acceptor.is_none())
            .finish()
    }
}

impl Waitable for Listener {
    /// Readable while `accept` has something to do: a peer connecting, a
    /// handshake to advance, or a connection ready. (`accept` may still
    /// wait: the handshake may need more messages, or fail.)
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.acceptor.as_ref().map(Acceptor::wait_fd)
    }
}

/// The socket family of a TCP address.
pub(crate) fn tcp_family(addr: &std::net::SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    }
}

pub(crate) fn new_socket(family: AddressFamily) -> Result<OwnedFd> {
    // Non-blocking so that accept and connect never block past a deadline;
    // accepted sockets are blocking (accept4 does not inherit O_NONBLOCK).
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    Ok(fd)
}
