//! TLS for TCP connections (the `tls` feature), with rustls: the settings
//! ([`TlsServer`], [`TlsClient`]) and the session that encrypts a
//! connection's bytes.
//!
//! Across a network, mp's TCP traffic is authenticated by the authkey
//! handshake but readable by anyone on the path. With TLS on both ends the
//! whole stream is encrypted and the client checks the listener's
//! certificate; the authkey handshake still runs, inside TLS, so a client
//! needs both the trusted CA and the key. TLS connections carry no OS
//! handles and cannot be sent to another process.
//!
//! ```no_run
#![doc = concat!("use ", crate::mp_crate!(pipe), "::tls::{TlsClient, TlsServer};")]
#![doc = concat!("use ", crate::mp_crate!(pipe), "::{Address, Client, Listener};")]
//!
#![doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
//! let listener = Listener::builder("0.0.0.0:6000".parse::<Address>().unwrap())
//!     .authkey(b"secret")
//!     .tls(TlsServer::from_pem_files("server.crt", "server.key")?)
//!     .bind()?;
//! // On another host:
//! let conn = Client::builder("203.0.113.5:6000".parse::<Address>().unwrap())
//!     .authkey(b"secret")
//!     .tls(TlsClient::from_ca_pem_file("ca.crt")?)
//!     .connect_now()?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mp_internal::Deadline;
use parking_lot::Mutex;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::error::{Error, Result};
use crate::socket::{SendFailure, wait_ready};

/// Plaintext handed to rustls per step of a send, so its buffers stay small.
const SEND_CHUNK: usize = 64 * 1024;

/// ring's provider: X25519 and P-256 key exchange, AES-GCM and ChaCha20.
#[allow(
    deprecated,
    reason = "rustls deprecates ring for lacking post-quantum key exchange; aws-lc-rs, which \
              has it, is a large C build; a user who wants it passes a config of their own"
)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(context: &str, e: impl fmt::Display) -> Error {
    Error::Tls(format!("{context}: {e}"))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| tls_error(&format!("cannot read {}", path.display()), e))
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error("bad PEM certificate", e))?;
    if certs.is_empty() {
        return Err(Error::Tls("no certificate in the PEM data".into()));
    }
    Ok(certs)
}

/// A listener's TLS settings: its certificate chain and private key.
///
/// One made from PEM can be sent to another process (a manager's server
/// process, say: the key travels with it); one made
/// [`from_config`](TlsServer::from_config) cannot.
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<ServerConfig>,
    /// The PEM it came from (certificate chain, private key), so the
    /// settings can travel.
    pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsServer {
    /// From PEM data: the certificate chain (the listener's certificate
    /// first) and its private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<TlsServer> {
        let certs = certificates(cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(private_key)
            .map_err(|e| tls_error("bad PEM private key", e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("configuration", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| tls_error("certificate and key", e))?;
        Ok(TlsServer {
            config: Arc::new(config),
            pem: Some((cert_chain.to_vec(), private_key.to_vec())),
        })
    }

    /// From PEM files (see [`from_pem`](TlsServer::from_pem)).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<TlsServer> {
        TlsServer::from_pem(
            &read_file(cert_chain.as_ref())?,
            &read_file(private_key.as_ref())?,
        )
    }

    /// From a rustls configuration made by hand (client certificates,
    /// other protocol versions, ...).
    pub fn from_config(config: Arc<ServerConfig>) -> TlsServer {
        TlsServer { config, pem: None }
    }

    pub(crate) fn session(&self) -> Result<Session> {
        let conn = ServerConnection::new(self.config.clone())
            .map_err(|e| tls_error("cannot start a session", e))?;
        Ok(Session::new(rustls::Connection::Server(conn)))
    }
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

/// A client's TLS settings: the certificate authorities it trusts, and the
/// name it expects in the listener's certificate.
///
/// One made from PEM data can be sent to another process (as part of a
/// manager's proxies, say); one made [`from_config`](TlsClient::from_config)
/// cannot.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
    /// The PEM the trust came from, so the settings can travel.
    ca_pem: Option<Vec<u8>>,
}

impl TlsClient {
    /// Trusts the certificate authorities in `ca_pem` (one or more PEM
    /// certificates), and nothing else.
    pub fn from_ca_pem(ca_pem: &[u8]) -> Result<TlsClient> {
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca_pem)? {
            roots
                .add(cert)
                .map_err(|e| tls_error("bad CA certificate", e))?;
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("configuration", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            config: Arc::new(config),
            server_name: None,
            ca_pem: Some(ca_pem.to_vec()),
        })
    }

    /// From a PEM file (see [`from_ca_pem`](TlsClient::from_ca_pem)).
    pub fn from_ca_pem_file(path: impl AsRef<Path>) -> Result<TlsClient> {
        TlsClient::from_ca_pem(&read_file(path.as_ref())?)
    }

    /// From a rustls configuration made by hand.
    pub fn from_config(config: Arc<ClientConfig>) -> TlsClient {
        TlsClient {
            config,
            server_name: None,
            ca_pem: None,
        }
    }

    /// The name the listener's certificate must carry (default: the IP
    /// address connected to).
    pub fn server_name(mut self, name: impl Into<String>) -> TlsClient {
        self.server_name = Some(name.into());
        self
    }

    pub(crate) fn session(&self, address: &Address) -> Result<Session> {
        let name = match (&self.server_name, address) {
            (Some(name), _) => ServerName::try_from(name.clone())
                .map_err(|e| tls_error(&format!("bad server name {name:?}"), e))?,
            (None, Address::Tcp(addr)) => ServerName::IpAddress(addr.ip().into()),
            (None, _) => return Err(Error::Tls("TLS runs over TCP only".into())),
        };
        let conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| tls_error("cannot start a session", e))?;
        Ok(Session::new(rustls::Connection::Client(conn)))
    }
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsClient {
    /// Same trust and name (settings made from a config compare by identity).
    fn eq(&self, other: &TlsClient) -> bool {
        self.server_name == other.server_name
            && match (&self.ca_pem, &other.ca_pem) {
                (Some(a), Some(b)) => a == b,
                _ => Arc::ptr_eq(&self.config, &other.config),
            }
    }
}

impl Eq for TlsClient {}

impl Serialize for TlsServer {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match &self.pem {
            Some(pem) => pem.serialize(serializer),
            None => Err(serde::ser::Error::custom(
                "TLS settings made from a rustls config cannot travel to another process",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for TlsServer {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<TlsServer, D::Error> {
        let (cert_chain, key) = <(Vec<u8>, Vec<u8>)>::deserialize(deserializer)?;
        TlsServer::from_pem(&cert_chain, &key).map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
struct TlsClientWire {
    ca_pem: Vec<u8>,
    server_name: Option<String>,
}

impl Serialize for TlsClient {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let Some(ca_pem) = &self.ca_pem else {
            return Err(serde::ser::Error::custom(
                "TLS settings made from a rustls config cannot travel to another process",
            ));
        };
        TlsClientWire {
            ca_pem: ca_pem.clone(),
            server_name: self.server_name.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TlsClient {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<TlsClient, D::Error> {
        let wire = TlsClientWire::deserialize(deserializer)?;
        let mut client = TlsClient::from_ca_pem(&wire.ca_pem).map_err(serde::de::Error::custom)?;
        client.server_name = wire.server_name;
        Ok(client)
    }
}

/// The TLS state of one connection. Receives and sends lock it only
/// briefly (never while they wait), so one thread can wait in `recv`
/// while another sends.
pub(crate) struct Session {
    tls: Mutex<rustls::Connection>,
    /// rustls may hold decrypted bytes the connection has not read yet
    /// (the socket then shows nothing to read).
    plaintext: AtomicBool,
}

/// The socket as rustls sees it: never blocking, never raising SIGPIPE.
struct Socket<'a>(BorrowedFd<'a>);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::net::recv(self.0, buf, RecvFlags::DONTWAIT)?.0)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(
            self.0,
            buf,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        )?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Session {
    fn new(tls: rustls::Connection) -> Session {
        Session {
            tls: Mutex::new(tls),
            plaintext: AtomicBool::new(false),
        }
    }

    pub(crate) fn has_plaintext(&self) -> bool {
        self.plaintext.load(Ordering::Relaxed)
    }

    /// Reads at least one byte of plaintext into `dst` (0: end of file),
    /// driving the TLS handshake and answering the peer on the way.
    pub(crate) fn recv_some(
        &self,
        fd: BorrowedFd<'_>,
        dst: &mut [u8],
        deadline: &Deadline,
    ) -> Result<usize> {
        loop {
            let mut tls = self.tls.lock();
            match tls.reader().read(dst) {
                Ok(n) => {
                    self.plaintext
                        .store(n > 0 && n == dst.len(), Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if would_block(&e) => self.plaintext.store(false, Ordering::Relaxed),
                // The peer closed without a close_notify: it is gone all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e.into()),
            }
            match tls.read_tls(&mut Socket(fd)) {
                Ok(_) => {
                    let handshaking = tls.is_handshaking();
                    let processed = tls.process_new_packets();
                    let server = matches!(*tls, rustls::Connection::Server(_));
                    drop(tls);
                    // Answers (handshake records, alerts) go out now; but a
                    // listener whose peer failed the TLS handshake (a plain
                    // client, most likely) answers in plain framing instead.
                    let flushed = if processed.is_err() && handshaking && server {
                        Ok(())
                    } else {
                        self.flush(fd, deadline)
                    };
                    match processed {
                        Ok(state) => self
                            .plaintext
                            .store(state.plaintext_bytes_to_read() > 0, Ordering::Relaxed),
                        Err(e) if handshaking => {
                            return Err(tls_error(
                                "handshake failed (does the peer speak TLS?)",
                                e,
                            ));
                        }
                        Err(e) => return Err(tls_error("the stream is broken", e)),
                    }
                    flushed?;
                }
                Err(e) if would_block(&e) => {
                    drop(tls);
                    wait_ready(fd, PollFlags::IN, deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => {
                    return Ok(0);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Like `recv_some`, into the spare capacity of `dst` (which has some).
    pub(crate) fn recv_into_spare(
        &self,
        fd: BorrowedFd<'_>,
        dst: &mut Vec<u8>,
        deadline: &Deadline,
    ) -> Result<usize> {
        let old = dst.len();
        let room = (dst.capacity() - old).clamp(1, SEND_CHUNK);
        dst.resize(old + room, 0);
        let result = self.recv_some(fd, &mut dst[old..], deadline);
        dst.truncate(old + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Encrypts and writes the concatenation of `parts`.
    pub(crate) fn send_all(
        &self,
        fd: BorrowedFd<'_>,
        parts: &[&[u8]],
        deadline: &Deadline,
    ) -> Result<(), SendFailure> {
        let mut accepted = 0usize;
        for part in parts {
            let mut offset = 0;
            while offset < part.len() {
                let end = part.len().min(offset + SEND_CHUNK);
                let taken = self.tls.lock().writer().write(&part[offset..end]);
                let taken = taken.map_err(|e| SendFailure {
                    error: e.into(),
                    partial: accepted > 0,
                })?;
                offset += taken;
                accepted += taken;
                // Once rustls holds part of the frame, a timeout tears it.
                self.flush(fd, deadline).map_err(|error| SendFailure {
                    error,
                    partial: accepted > 0,
                })?;
            }
        }
        Ok(())
    }

    /// Writes out what rustls has to send.
    fn flush(&self, fd: BorrowedFd<'_>, deadline: &Deadline) -> Result<()> {
        loop {
            let mut tls = self.tls.lock();
            if !tls.wants_write() {
                return Ok(());
            }
            match tls.write_tls(&mut Socket(fd)) {
                Ok(_) => {}
                Err(e) if would_block(&e) => {
                    drop(tls);
                    wait_ready(fd, PollFlags::OUT, deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Tells the peer this end is closing (best effort, without waiting).
    pub(crate) fn close_notify(&self, fd: BorrowedFd<'_>) {
        let mut tls = self.tls.lock();
        tls.send_close_notify();
        while tls.wants_write() {
            if tls.write_tls(&mut Socket(fd)).is_err() {
                break;
            }
        }
    }
}
