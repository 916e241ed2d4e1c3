use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

use parking_lot::Mutex;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::address::Address;
use crate::connection::Connection;
use mp_internal::Deadline;

use crate::error::{Error, Result};
use crate::poll::poll_one;
use crate::{Waitable, auth};

/// Incoming messages on socket connections are limited to this by default.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 1 << 30;

/// How long `accept` waits for a new peer to finish the handshake by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A socket that accepts [`Connection`]s (Python's
/// `multiprocessing.connection.Listener`).
///
/// With an authkey, every accepted peer must pass a mutual HMAC-SHA256
/// challenge/response before `accept` returns; a wrong key is
/// [`Error::Authentication`] on both sides and the listener keeps listening.
/// TCP without an authkey is refused unless explicitly allowed.
///
/// # Example
///
/// ```
/// use mp_pipe::{Address, Client, Listener};
///
/// # fn main() -> Result<(), mp_pipe::Error> {
/// let listener = Listener::bind(Address::unique(), Some(b"secret"))?;
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || -> Result<(), mp_pipe::Error> {
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
    fd: Option<OwnedFd>,
    address: Address,
    authkey: Option<Vec<u8>>,
    max_message_size: u64,
    handshake_timeout: Duration,
    last_accepted: Mutex<Option<Address>>,
    /// The socket file this listener created, removed on close.
    socket_file: Option<PathBuf>,
}

/// Settings for a [`Listener`]; made by [`Listener::builder`].
#[derive(Debug, Clone)]
pub struct ListenerBuilder {
    address: Address,
    authkey: Option<Vec<u8>>,
    allow_insecure_tcp: bool,
    backlog: i32,
    max_message_size: u64,
    handshake_timeout: Duration,
}

impl ListenerBuilder {
    /// Requires peers to prove they hold `key` (and proves it to them).
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// Allows TCP without an authkey. Anyone who can reach the port can then
    /// send messages; only do this on a trusted network.
    pub fn allow_insecure_tcp(mut self, allow: bool) -> Self {
        self.allow_insecure_tcp = allow;
        self
    }

    /// The `listen` backlog (default 128).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The limit on incoming messages of accepted connections (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]).
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long `accept` gives a peer to complete the handshake (default 10 s),
    /// so a silent peer cannot hold the listener.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Binds and listens. Binding an address that is in use (another
    /// listener, or a leftover socket file) is an error.
    pub fn bind(self) -> Result<Listener> {
        if self.address.is_tcp() && self.authkey.is_none() && !self.allow_insecure_tcp {
            return Err(Error::InsecureTcp);
        }
        let (fd, socket_file) = match &self.address {
            Address::Tcp(addr) => {
                let family = if addr.is_ipv4() {
                    AddressFamily::INET
                } else {
                    AddressFamily::INET6
                };
                let fd = new_socket(family)?;
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
        mp_internal::tracked::track(fd.as_fd());
        // Port 0 becomes the real port.
        let address = Address::from_any(rustix::net::getsockname(&fd)?)
            .filter(|_| self.address.is_tcp())
            .unwrap_or(self.address);
        Ok(Listener {
            fd: Some(fd),
            address,
            authkey: self.authkey,
            max_message_size: self.max_message_size,
            handshake_timeout: self.handshake_timeout,
            last_accepted: Mutex::new(None),
            socket_file,
        })
    }
}

impl Listener {
    /// Binds `address` with the given authkey (see [`Listener::builder`] for
    /// more settings).
    pub fn bind(address: impl Into<Address>, authkey: Option<&[u8]>) -> Result<Listener> {
        let mut builder = Listener::builder(address);
        if let Some(key) = authkey {
            builder = builder.authkey(key);
        }
        builder.bind()
    }

    /// Settings for a listener on `address`.
    pub fn builder(address: impl Into<Address>) -> ListenerBuilder {
        ListenerBuilder {
            address: address.into(),
            authkey: None,
            allow_insecure_tcp: false,
            backlog: 128,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Waits for a peer and returns the connection once it has authenticated
    /// (Python's `accept`).
    pub fn accept(&self) -> Result<Connection> {
        self.accept_until(&Deadline::never())
    }

    /// Like [`accept`](Listener::accept), giving up with [`Error::Timeout`]
    /// after `timeout` (which also bounds the handshake).
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

    /// Stops listening (and removes the socket file it created). Later
    /// `accept`s fail with [`Error::Closed`]; closing twice is fine.
    pub fn close(&mut self) {
        if let Some(fd) = self.fd.take() {
            mp_internal::tracked::untrack(fd.as_fd());
            self.remove_socket_file();
        }
    }

    fn accept_until(&self, deadline: &Deadline) -> Result<Connection> {
        let fd = self.fd.as_ref().ok_or(Error::Closed)?;
        let (stream, peer) = loop {
            match rustix::net::acceptfrom_with(fd, SocketFlags::CLOEXEC) {
                Ok(accepted) => break accepted,
                Err(Errno::INTR | Errno::CONNABORTED) => {}
                Err(Errno::AGAIN) => {
                    if !poll_one(fd.as_fd(), PollFlags::IN, deadline)? {
                        return Err(Error::Timeout);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        let conn = if self.address.is_tcp() {
            Connection::from(std::net::TcpStream::from(stream))
        } else {
            Connection::from(std::os::unix::net::UnixStream::from(stream))
        };
        conn.set_max_message_size(self.max_message_size);
        let handshake = deadline.min(&Deadline::after(self.handshake_timeout));
        auth::serve(&conn, self.authkey.as_deref(), &handshake)?;
        *self.last_accepted.lock() = peer.and_then(Address::from_any);
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
        self.close();
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticated", &self.authkey.is_some())
            .field("closed", &self.fd.is_none())
            .finish()
    }
}

impl Waitable for Listener {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }
}

fn new_socket(family: AddressFamily) -> Result<OwnedFd> {
    // Non-blocking so that accept never blocks past a deadline; accepted
    // sockets are blocking (accept4 does not inherit O_NONBLOCK).
    Ok(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)
}

/// Connects to a [`Listener`] (Python's `multiprocessing.connection.Client`).
///
/// `Client::connect(address, authkey)` covers the common case;
/// [`Client::builder`] adds a timeout and other settings.
#[derive(Debug, Clone)]
pub struct Client {
    address: Address,
    authkey: Option<Vec<u8>>,
    allow_insecure_tcp: bool,
    timeout: Option<Duration>,
    max_message_size: u64,
}

impl Client {
    /// Connects and authenticates.
    pub fn connect(address: &Address, authkey: Option<&[u8]>) -> Result<Connection> {
        let mut client = Client::builder(address.clone());
        if let Some(key) = authkey {
            client = client.authkey(key);
        }
        client.connect_now()
    }

    /// Settings for a connection to `address`.
    pub fn builder(address: impl Into<Address>) -> Client {
        Client {
            address: address.into(),
            authkey: None,
            allow_insecure_tcp: false,
            timeout: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// Proves to the listener that this client holds `key` (and checks that
    /// the listener holds it too).
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// Allows TCP without an authkey.
    pub fn allow_insecure_tcp(mut self, allow: bool) -> Self {
        self.allow_insecure_tcp = allow;
        self
    }

    /// Gives up with [`Error::Timeout`] if connecting and authenticating take
    /// longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The limit on incoming messages (default [`DEFAULT_MAX_MESSAGE_SIZE`]).
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Connects with these settings.
    #[doc(alias = "Client")]
    pub fn connect_now(&self) -> Result<Connection> {
        if self.address.is_tcp() && self.authkey.is_none() && !self.allow_insecure_tcp {
            return Err(Error::InsecureTcp);
        }
        let deadline = Deadline::from_timeout(self.timeout);
        let conn = match &self.address {
            Address::Tcp(addr) => {
                let family = if addr.is_ipv4() {
                    AddressFamily::INET
                } else {
                    AddressFamily::INET6
                };
                let fd = connect(family, addr, &deadline)?;
                Connection::from(std::net::TcpStream::from(fd))
            }
            unix => {
                let addr = unix.unix_addr()?.expect("a Unix address");
                let fd = connect(AddressFamily::UNIX, &addr, &deadline)?;
                Connection::from(std::os::unix::net::UnixStream::from(fd))
            }
        };
        conn.set_max_message_size(self.max_message_size);
        auth::answer(&conn, self.authkey.as_deref(), &deadline)?;
        Ok(conn)
    }
}

/// Connects a blocking stream socket, bounding the wait by `deadline`.
fn connect(
    family: AddressFamily,
    addr: &impl rustix::net::addr::SocketAddrArg,
    deadline: &Deadline,
) -> Result<OwnedFd> {
    let fd = new_socket(family)?;
    loop {
        match rustix::net::connect(&fd, addr) {
            Ok(()) | Err(Errno::ISCONN) => break,
            Err(Errno::INPROGRESS | Errno::ALREADY) => {
                if !poll_one(fd.as_fd(), PollFlags::OUT, deadline)? {
                    return Err(Error::Timeout);
                }
                if let Err(e) = rustix::net::sockopt::socket_error(&fd)? {
                    return Err(e.into());
                }
                break;
            }
            // A Unix listener's backlog is full: try again shortly.
            Err(Errno::AGAIN) => {
                if deadline.remaining().is_some_and(|left| left.is_zero()) {
                    return Err(Error::Timeout);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let flags = rustix::fs::fcntl_getfl(&fd)? - rustix::fs::OFlags::NONBLOCK;
    rustix::fs::fcntl_setfl(&fd, flags)?;
    Ok(fd)
}
