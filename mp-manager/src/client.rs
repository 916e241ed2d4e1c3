//! The client side of the protocol: one pool of authenticated connections
//! per (process, server address, authkey), shared by every proxy of that
//! server in the process.
//!
//! A call checks a connection out of the pool (or opens one), sends its
//! request, reads the reply and puts the connection back; so threads never
//! wait for each other's calls, and a blocking `get` on one thread does not
//! hold up the others (Python keeps a connection per thread for the same
//! reason). All connections of a pool belong to one *session* on the server:
//! the holds that keep objects alive and the locks the process owns belong
//! to the session, and the server releases them once the session has had no
//! connection for a moment (the process exited, crashed, or dropped its last
//! proxy).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crossbeam_utils::atomic::AtomicCell;
use mp_pipe::{Address, Client, Connection};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, from_pipe};
use crate::wire::{Answer, Fault, Reply, Request, SessionId, Wait};

/// Idle connections kept per pool; more are closed when checked in.
const MAX_IDLE: usize = 8;
/// How long connecting and authenticating may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much longer than a timed operation's own timeout the server may take
/// to answer before the call gives up with [`Error::Timeout`].
const REPLY_MARGIN: Duration = Duration::from_secs(10);

/// How a client reaches a server beyond its address and key: TLS (with the
/// `tls` feature). It travels with proxies, so another process reconnects
/// the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Transport {
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<mp_pipe::tls::TlsClient>,
}

impl Transport {
    /// Whether nothing but the socket's own protection is asked for (no
    /// TLS): a connection on the same machine may then use shared memory.
    fn local(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return false;
        }
        true
    }

    fn apply(&self, client: Client) -> Client {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return client.tls(tls.clone());
        }
        client
    }
}

/// Connections to one server, owned by one process.
pub(crate) struct Pool {
    owner: u32,
    pub(crate) address: Address,
    /// The same number for every pool of this process that reaches
    /// `address` (whatever their key or transport): telling whether two
    /// pools lead to one server is comparing these.
    pub(crate) server: u64,
    pub(crate) authkey: Option<Vec<u8>>,
    pub(crate) transport: Transport,
    pub(crate) session: SessionId,
    /// The connection the last call checked in: most calls take it from
    /// here (one atomic swap each way); `idle` holds the others, which
    /// concurrent calls opened.
    hot: AtomicCell<Option<Box<Connection>>>,
    idle: Mutex<Idle>,
    closed: AtomicBool,
}

/// A pool's idle connections. Boxed: every call moves its connection out
/// of the pool and back, and a `Connection` is about 200 bytes.
#[allow(
    clippy::vec_box,
    reason = "the boxes are what is moved in and out of the pool on every call"
)]
type Idle = Vec<Box<Connection>>;

/// Every pool this process has, to share them between proxies.
static POOLS: Mutex<Vec<Weak<Pool>>> = Mutex::new(Vec::new());

fn new_session() -> SessionId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = mp_pipe::random_authkey();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&random[..8]);
    u64::from_le_bytes(bytes) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

impl Pool {
    /// The pool of this process for `address` with `authkey` (and
    /// `transport`), made if needed.
    pub(crate) fn get(
        address: &Address,
        authkey: Option<&[u8]>,
        transport: &Transport,
    ) -> Arc<Pool> {
        let pid = mp_process::pid();
        let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
        pools.retain(|weak| weak.strong_count() > 0);
        let mut server = None;
        for pool in pools.iter().filter_map(Weak::upgrade) {
            if pool.address != *address {
                continue;
            }
            if pool.owner == pid
                && !pool.is_closed()
                && pool.authkey.as_deref() == authkey
                && pool.transport == *transport
            {
                return pool;
            }
            server = Some(pool.server);
        }
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let server = server.unwrap_or_else(|| SERVERS.fetch_add(1, Ordering::Relaxed));
        let pool = Arc::new(Pool {
            owner: pid,
            address: address.clone(),
            server,
            authkey: authkey.map(<[u8]>::to_vec),
            transport: transport.clone(),
            session: new_session(),
            hot: AtomicCell::new(None),
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        pools.push(Arc::downgrade(&pool));
        pool
    }

    /// Marks every pool of this process for `address` closed: their proxies
    /// fail with [`Error::ManagerClosed`] from now on.
    pub(crate) fn close_all(address: &Address) {
        let pid = mp_process::pid();
        let pools: Vec<Arc<Pool>> = POOLS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|p| p.owner == pid && p.address == *address)
            .collect();
        for pool in pools {
            pool.close();
        }
    }

    /// Whether this pool belongs to the calling process (a forked child has a
    /// copy of its parent's pools, whose connections it must not touch).
    pub(crate) fn is_ours(&self) -> bool {
        self.owner == mp_process::pid()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        drop(self.hot.take());
        self.idle_lock().clear();
    }

    fn idle_lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens and authenticates a new connection of this session.
    pub(crate) fn connect(&self) -> std::result::Result<Connection, mp_pipe::Error> {
        let mut client = self
            .transport
            .apply(Client::builder(self.address.clone()).timeout(CONNECT_TIMEOUT));
        if let Some(key) = &self.authkey {
            client = client.authkey(key);
        }
        let conn = client.connect_now()?;
        if self.transport.local() && !self.address.is_tcp() {
            if let Some(pipe) = self.move_to_pipe(&conn)? {
                return Ok(pipe);
            }
        }
        conn.send(&Request::Hello {
            session: self.session,
        })?;
        Ok(conn)
    }

    /// Moves a new connection on a Unix socket onto a pipe whose ends
    /// share memory (see [`Request::HelloPipe`]): the pipe to use from now
    /// on, or `None` if this server does not take it (then `Hello` follows
    /// on the socket, as for any client).
    fn move_to_pipe(
        &self,
        socket: &Connection,
    ) -> std::result::Result<Option<Connection>, mp_pipe::Error> {
        let Ok((mine, theirs)) = mp_pipe::pipe() else {
            return Ok(None);
        };
        mine.set_max_message_size(socket.max_message_size());
        socket.send(&Request::HelloPipe {
            session: self.session,
            conn: Box::new(theirs),
        })?;
        match socket.recv_timeout::<Reply>(CONNECT_TIMEOUT)? {
            Reply(Ok(_)) => Ok(Some(mine)),
            Reply(Err(_)) => Ok(None),
        }
    }

    fn checkout(&self) -> Result<Box<Connection>> {
        if self.is_closed() {
            return Err(Error::ManagerClosed);
        }
        if let Some(conn) = self.hot.take() {
            return Ok(conn);
        }
        if let Some(conn) = self.idle_lock().pop() {
            return Ok(conn);
        }
        self.connect().map(Box::new).map_err(|e| self.fail(e))
    }

    fn checkin(&self, conn: Box<Connection>) {
        if self.is_closed() {
            return;
        }
        let Some(other) = self.hot.swap(Some(conn)) else {
            // A `close` between the look above and the swap may have
            // emptied the slot before we filled it: look again.
            if self.is_closed() {
                drop(self.hot.take());
            }
            return;
        };
        let mut idle = self.idle_lock();
        if idle.len() < MAX_IDLE {
            idle.push(other);
        }
    }

    /// Maps an error on one of this pool's connections; a vanished server
    /// closes the pool for good (a restarted server has other objects).
    fn fail(&self, e: mp_pipe::Error) -> Error {
        let error = from_pipe(e);
        if matches!(error, Error::ManagerClosed) {
            self.close();
        }
        error
    }

    /// Sends `request` and returns the server's answer. `wait` is how long the
    /// operation may block on the server.
    pub(crate) fn request(&self, request: Request, wait: Wait) -> Result<Answer> {
        let conn = self.checkout()?;
        let sent = conn.send(&request);
        // The request's buffers are freed while the server works, not after
        // its answer: a round trip waits for one of the two anyway.
        drop(request);
        if let Err(e) = sent {
            return Err(match e {
                mp_pipe::Error::Encode(e) => {
                    self.checkin(conn);
                    Error::Encode(e.to_string())
                }
                // Over the server's limit (announced in the handshake):
                // refused before a byte was written, the connection is fine.
                mp_pipe::Error::MessageTooLarge { len, limit } => {
                    self.checkin(conn);
                    Error::MessageTooLarge { len, limit }
                }
                e => self.fail(e),
            });
        }
        let reply = match wait {
            Wait::Now | Wait::Forever => conn.recv::<Reply>(),
            Wait::For(d) => conn.recv_timeout::<Reply>(d.saturating_add(REPLY_MARGIN)),
        };
        match reply {
            Ok(Reply(Ok(answer))) => {
                self.checkin(conn);
                Ok(answer)
            }
            Ok(Reply(Err(fault))) => {
                // After these the server has closed this connection.
                if !matches!(fault, Fault::MessageTooLarge { .. } | Fault::ShuttingDown) {
                    self.checkin(conn);
                }
                Err(fault.into())
            }
            // A timed-out reply would arrive later and desynchronise the
            // connection: it is dropped (not checked in).
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Sends a request that has no reply (`DecRef`); errors are ignored (a
    /// closed manager has nothing left to release).
    pub(crate) fn post(&self, request: &Request) {
        if !self.is_ours() || self.is_closed() {
            return;
        }
        if let Ok(conn) = self.checkout() {
            match conn.send(request) {
                Ok(()) => self.checkin(conn),
                Err(e) => {
                    self.fail(e);
                }
            }
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("address", &self.address)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A pool reference that follows the process across `fork`: a forked child
/// gets (or makes) its own pool on first use.
#[derive(Debug)]
pub(crate) struct Link {
    pid: u32,
    pool: Arc<Pool>,
}

impl Link {
    pub(crate) fn new(pool: Arc<Pool>) -> Link {
        Link {
            pid: pool.owner,
            pool,
        }
    }

    /// This process's pool; `true` if it had to be re-homed after a fork.
    pub(crate) fn pool(&mut self) -> (Arc<Pool>, bool) {
        let pid = mp_process::pid();
        if self.pid == pid {
            return (self.pool.clone(), false);
        }
        let pool = Pool::get(
            &self.pool.address,
            self.pool.authkey.as_deref(),
            &self.pool.transport,
        );
        // The parent's pool is never used here; dropping this copy only
        // closes this process's duplicates of its descriptors.
        self.pool = pool.clone();
        self.pid = pid;
        (pool, true)
    }

    /// The pool as it is, for decisions that must not re-home.
    pub(crate) fn current(&self) -> Option<&Arc<Pool>> {
        (self.pid == mp_process::pid()).then_some(&self.pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_connection_slot_takes_no_lock() {
        // `AtomicCell` falls back to a global lock for types it cannot swap
        // in one instruction: the slot would then cost what it saves.
        assert!(AtomicCell::<Option<Box<Connection>>>::is_lock_free());
    }
}
