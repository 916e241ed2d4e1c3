//! `Client`: connects to a `Listener` and runs the client's side of the
//! handshake.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use mp_internal::Deadline;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::AddressFamily;

use crate::address::{Address, AddressParseError, ToAddress};
use crate::auth::choose_handshake;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::frame::Framing;
use crate::handshake::{self, Handshake};
use crate::listener::{DEFAULT_MAX_MESSAGE_SIZE, new_socket, tcp_family};
use crate::poll::poll_one;

/// Connects to a [`Listener`](crate::Listener) (Python's
/// `multiprocessing.connection.Client`).
///
/// `Client::connect(address, authkey)` covers the common case;
/// [`Client::builder`] adds a timeout and other settings.
#[derive(Debug, Clone)]
pub struct Client {
    /// A string that is not an address fails at `connect_now`.
    address: std::result::Result<Address, AddressParseError>,
    authkey: Option<Vec<u8>>,
    handshake: Option<Arc<dyn Handshake>>,
    framing: Framing,
    allow_insecure_tcp: bool,
    timeout: Option<Duration>,
    max_message_size: u64,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsClient>,
}

impl Client {
    /// Connects and authenticates. The address is anything [`ToAddress`]:
    /// `listener.address()`, `"127.0.0.1:6000"`, `("localhost", 6000)`,
    /// `"/tmp/app.sock"`; a string that is none is [`Error::Address`].
    ///
    /// With an authkey it returns once both ends have proved they hold it.
    /// Without one it returns as soon as the connection is made, as
    /// Python's `Client(address)` does: the listener need not be in
    /// `accept` yet, and what the client sends waits for it. The
    /// listener's answer (its size limit, or a refusal) is read on the
    /// first receive; a refusal is that receive's error.
    ///
    /// # Example
    ///
    /// A client that connects, sends and leaves before the listener accepts:
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(pipe), "::{Address, Client, Listener};")]
    ///
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
    /// let listener = Listener::bind(Address::unique(), None)?;
    /// let conn = Client::connect(listener.address(), None)?;
    /// conn.send("sent before accept")?;
    /// drop(conn);
    /// let server = listener.accept()?;
    /// assert_eq!(server.recv::<String>()?, "sent before accept");
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(address: impl ToAddress, authkey: Option<&[u8]>) -> Result<Connection> {
        let mut client = Client::builder(address);
        if let Some(key) = authkey {
            client = client.authkey(key);
        }
        client.connect_now()
    }

    /// Settings for a connection to `address`.
    pub fn builder(address: impl ToAddress) -> Client {
        Client {
            address: address.to_address(),
            authkey: None,
            handshake: None,
            framing: Framing::Mp,
            allow_insecure_tcp: false,
            timeout: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Proves to the listener that this client holds `key` (and checks that
    /// the listener holds it too). An empty key is refused when connecting.
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// Runs `handshake` instead of mp's own (see
    /// [`ListenerBuilder::handshake`](crate::ListenerBuilder::handshake)).
    pub fn handshake(mut self, handshake: impl Handshake + 'static) -> Self {
        self.handshake = Some(Arc::new(handshake));
        self
    }

    /// The framing of the connection (default [`Framing::Mp`]); it must be
    /// the listener's.
    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
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

    /// Speaks TLS to the listener (TCP only), checking its certificate;
    /// the handshake runs inside TLS. A plain listener is refused with a
    /// clear [`Error::Tls`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Connects with these settings.
    #[doc(alias = "Client")]
    pub fn connect_now(&self) -> Result<Connection> {
        let address = self
            .address
            .as_ref()
            .map_err(|e| Error::Address(e.clone()))?;
        let handshake = choose_handshake(
            address,
            self.authkey.as_deref(),
            self.handshake.clone(),
            self.allow_insecure_tcp,
        )?;
        #[cfg(feature = "tls")]
        if self.tls.is_some() && !address.is_tcp() {
            return Err(Error::Tls("TLS runs over TCP only".into()));
        }
        let deadline = Deadline::from_timeout(self.timeout);
        let mut conn = match address {
            Address::Tcp(addr) => {
                let fd = connect(tcp_family(addr), addr, &deadline)?;
                Connection::from(std::net::TcpStream::from(fd))
            }
            unix => {
                let addr = unix.unix_addr()?.expect("a Unix address");
                let fd = connect(AddressFamily::UNIX, &addr, &deadline)?;
                Connection::from(std::os::unix::net::UnixStream::from(fd))
            }
        }
        .with_framing(self.framing);
        conn.set_max_message_size(self.max_message_size);
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            conn.set_tls(tls.session(address)?);
        }
        handshake::run(
            &mut conn,
            handshake.client(self.max_message_size),
            &deadline,
        )?;
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
