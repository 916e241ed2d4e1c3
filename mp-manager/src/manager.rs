//! Starting, connecting to and stopping managers.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mp_pipe::{Address, AddressParseError, Connection, ToAddress};
use mp_process::{Process, StartMethod};
use serde::{Deserialize, Serialize};

use crate::client::{Link, Pool, Transport};
use crate::error::{Error, Result};
use crate::initializer::Initializer;
use crate::object_ref::unexpected;
use crate::registry::{Registrar, Registry, ServerObject};
use crate::server::{Bound, ServerTransport};
use crate::wire::{Answer, DebugInfo, Request, Wait};

/// Incoming requests are limited to this many bytes by default.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 256 << 20;
/// How long a new server may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `shutdown` waits for the server to exit before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a server process is told.
#[derive(Serialize, Deserialize)]
struct Setup {
    address: Address,
    authkey: Option<Vec<u8>>,
    max_message_size: u64,
    transport: ServerTransport,
    initializer: Option<Initializer>,
}

/// What the server process reports back: its bound address, or why not.
type Report = std::result::Result<Address, StartFailure>;

/// Why a server process did not come up.
#[derive(Serialize, Deserialize)]
enum StartFailure {
    /// Binding its address failed.
    Bind(String),
    /// The initializer panicked (its message).
    Initializer(String),
}

/// Builds a [`Manager`]: where it listens, its authkey, what it offers, how
/// its server process starts (Python's `BaseManager(address, authkey)` and
/// its subclasses' `register` calls).
///
/// The defaults are private: a fresh abstract Unix socket, and this
/// process's authkey (which children inherit). For remote use give a TCP
/// address: [`Address::localhost(port)`](Address::localhost) binds loopback
/// only; give `0.0.0.0:port` (or a host's address) to accept other hosts.
/// TCP without an authkey is refused.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(manager), "::{BaseManager, QueueProxy, Registrar, Registry, ServerObject};")]
///
/// struct QueueManager;
///
/// impl Registry for QueueManager {
///     fn register(registrar: &mut Registrar) {
///         registrar.register("get_queue", ServerObject::queue());
///     }
/// }
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
/// let server = BaseManager::new()
#[doc = concat!("    .address(", crate::mp_crate!(pipe), "::Address::localhost(0))")]
///     .authkey(b"abracadabra")
///     .registry::<QueueManager>()
///     .start()?;
///
/// // Elsewhere (another process, another host):
/// let client = BaseManager::new()
///     .address(server.address().clone())
///     .authkey(b"abracadabra")
///     .connect()?;
/// let queue: QueueProxy<String> = client.get("get_queue")?;
/// queue.put("hello")?;
/// assert_eq!(queue.get()?, "hello");
/// # Ok(())
/// # }
/// ```
pub struct BaseManager {
    /// A string that is not an address fails at `start`/`connect`.
    address: Option<std::result::Result<Address, AddressParseError>>,
    authkey: Option<Vec<u8>>,
    server_transport: ServerTransport,
    client_transport: Transport,
    method: Option<StartMethod>,
    max_message_size: u64,
    registrar: Registrar,
    register: fn(&mut Registrar),
    serve: fn(Setup, Connection) -> Process,
    initializer: Option<Result<Initializer>>,
}

impl Default for BaseManager {
    fn default() -> BaseManager {
        BaseManager::new()
    }
}

impl BaseManager {
    /// A manager with the defaults (see the type's docs).
    pub fn new() -> BaseManager {
        BaseManager {
            address: None,
            authkey: Some(mp_process::current_process().authkey().to_vec()),
            server_transport: ServerTransport::default(),
            client_transport: Transport::default(),
            method: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            registrar: Registrar::new(),
            register: <() as Registry>::register,
            serve: server_process::<()>,
            initializer: None,
        }
    }

    /// Where the server listens (or where to connect): anything
    /// [`ToAddress`], as Python writes it (`"127.0.0.1:50000"`,
    /// `("", 50000)`, `"/tmp/mgr.sock"`) or an [`Address`]. A string that is
    /// not an address is [`Error::Address`] from `start`/`connect`.
    pub fn address(mut self, address: impl ToAddress) -> BaseManager {
        self.address = Some(address.to_address());
        self
    }

    /// The key peers must prove they hold (default: this process's authkey).
    pub fn authkey(mut self, key: &[u8]) -> BaseManager {
        self.authkey = Some(key.to_vec());
        self
    }

    /// No authkey: any process that can reach the socket may use the
    /// manager. Refused for TCP ([`Error::InsecureTcp`]).
    pub fn no_authkey(mut self) -> BaseManager {
        self.authkey = None;
        self
    }

    /// The server speaks TLS with this certificate (TCP only; the authkey
    /// is still checked, inside TLS). Clients then need
    /// [`tls_client`](BaseManager::tls_client); a plain one is refused.
    #[cfg(feature = "tls")]
    pub fn tls_server(mut self, tls: mp_pipe::tls::TlsServer) -> BaseManager {
        self.server_transport.tls = Some(tls);
        self
    }

    /// Connects with TLS, trusting `tls`'s certificate authorities: for
    /// [`connect`](BaseManager::connect), and for the handle
    /// [`start`](BaseManager::start) returns. Proxies carry it to other
    /// processes, which reconnect with TLS too.
    #[cfg(feature = "tls")]
    pub fn tls_client(mut self, tls: mp_pipe::tls::TlsClient) -> BaseManager {
        self.client_transport.tls = Some(tls);
        self
    }

    /// The start method of the server process (default: the process default).
    pub fn start_method(mut self, method: StartMethod) -> BaseManager {
        self.method = Some(method);
        self
    }

    /// The start method of `context` (Python's `ctx.Manager()`).
    pub fn context(self, context: mp_process::Context) -> BaseManager {
        self.start_method(context.start_method())
    }

    /// The limit on a request's size (default [`DEFAULT_MAX_MESSAGE_SIZE`]).
    /// A larger request fails with [`Error::MessageTooLarge`] and costs its
    /// client that one connection; other clients are not affected.
    pub fn max_message_size(mut self, bytes: u64) -> BaseManager {
        self.max_message_size = bytes;
        self
    }

    /// Registers the typeids of `R`, made in the server process (works with
    /// every start method).
    pub fn registry<R: Registry>(mut self) -> BaseManager {
        self.register = R::register;
        self.serve = server_process::<R>;
        self
    }

    /// Makes `typeid` return `object` (see [`Registrar::register`]).
    ///
    /// Objects and callables registered here live in this process's memory:
    /// they reach a server made by [`get_server`](BaseManager::get_server) /
    /// [`serve_forever`](BaseManager::serve_forever), or one started with
    /// [`StartMethod::Fork`]. Under `Spawn` and `Forkserver` use
    /// [`registry`](BaseManager::registry) (as in Python, where a lambda
    /// given to `register` cannot be pickled for a spawned server).
    pub fn register(mut self, typeid: impl Into<String>, object: ServerObject) -> BaseManager {
        self.registrar.register(typeid, object);
        self
    }

    /// Makes `typeid` call `callable` (see [`Registrar::register_with`] and
    /// the note on [`register`](BaseManager::register)).
    pub fn register_with<F>(mut self, typeid: impl Into<String>, callable: F) -> BaseManager
    where
        F: Fn(&[u8]) -> std::result::Result<ServerObject, crate::RemoteError>
            + Send
            + Sync
            + 'static,
    {
        self.registrar.register_with(typeid, callable);
        self
    }

    /// Makes `typeid` construct a `T` (see [`Registrar::register_type`] and
    /// the note on [`register`](BaseManager::register)).
    pub fn register_type<T, A, F>(
        mut self,
        typeid: impl Into<String>,
        constructor: F,
    ) -> BaseManager
    where
        T: crate::Shared,
        A: serde::de::DeserializeOwned,
        F: Fn(A) -> T + Send + Sync + 'static,
    {
        self.registrar.register_type(typeid, constructor);
        self
    }

    /// Runs `service` beside the server's listener, in the server process
    /// (see [`Registrar::serve_also`], and the note on
    /// [`register`](BaseManager::register)).
    pub fn serve_also<F>(mut self, service: F) -> BaseManager
    where
        F: FnOnce(crate::adapter::ObjectTable) + Send + 'static,
    {
        self.registrar.serve_also(service);
        self
    }

    /// Runs `f(args...)` in the server process before it serves
    /// (Python's `start(initializer, initargs)`): `f` is a `fn` item or a
    /// closure that captures nothing, `args` a tuple of serde values, as
    /// for a `Process`, so it works under every start method. If it
    /// panics, [`start`](BaseManager::start) fails with
    /// [`Error::Initializer`] carrying the panic's message.
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(manager), "::BaseManager;")]
    ///
    /// fn quiet(level: u8) {
    ///     assert!(level < 10, "level {level} is too loud");
    /// }
    ///
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
    /// let manager = BaseManager::new().initializer(quiet, (3u8,)).start()?;
    /// manager.shutdown()?;
    /// let failed = BaseManager::new().initializer(quiet, (11u8,)).start();
    #[doc = concat!("assert!(matches!(failed, Err(", crate::mp_crate!(manager), "::Error::Initializer(m)) if m.contains(\"too loud\")));")]
    /// # Ok(())
    /// # }
    /// ```
    #[doc(alias = "initargs")]
    pub fn initializer<F, A>(mut self, f: F, args: A) -> BaseManager
    where
        F: mp_process::Target<A, Output = ()>,
        A: mp_process::Args,
    {
        self.initializer = Some(Initializer::new(f, &args));
        self
    }

    fn setup(&mut self) -> Result<Setup> {
        Ok(Setup {
            address: match self.address.clone() {
                None => Address::unique(),
                Some(address) => address.map_err(Error::Address)?,
            },
            authkey: self.authkey.clone(),
            max_message_size: self.max_message_size,
            transport: self.server_transport.clone(),
            initializer: self.initializer.take().transpose()?,
        })
    }

    /// Starts the server in a new process and returns the handle that owns
    /// it (Python's `start()`). The server stops when the handle is shut
    /// down or dropped, and dies with this process.
    pub fn start(mut self) -> Result<Manager> {
        let setup = self.setup()?;
        check_authkey(setup.authkey.as_deref())?;
        if setup.address.is_tcp() && setup.authkey.is_none() {
            return Err(Error::InsecureTcp);
        }
        let authkey = setup.authkey.clone();
        let method = self.method.unwrap_or_else(mp_process::get_start_method);
        let (ours, theirs) = mp_pipe::pipe().map_err(Error::Pipe)?;
        let process = if method == StartMethod::Fork {
            let (registrar, register) = (self.registrar, self.register);
            Process::from_closure(move || serve_with(registrar, register, setup, theirs))
        } else if !self.registrar.is_empty() {
            return Err(Error::Start(format!(
                "typeids given to BaseManager::register live in this process's memory and \
                 cannot reach a server started with {method}; implement Registry and use \
                 BaseManager::registry, or use StartMethod::Fork or serve_forever"
            )));
        } else {
            (self.serve)(setup, theirs).start_method(method)
        };
        // Terminated at exit as a daemon is, so it never keeps its owner
        // from exiting (if the owner is killed, the parent-death signal and
        // the lifeline take it down); not a daemon, so its objects may
        // start processes, as in CPython's manager server.
        let mut process = process.name("SyncManager").terminate_at_exit(true);
        process.start()?;
        let report = match ours.recv_timeout::<Report>(START_TIMEOUT) {
            Ok(report) => report,
            Err(e) => {
                let _ = process.kill();
                let _ = process.join_timeout(STOP_TIMEOUT);
                return Err(Error::Start(format!(
                    "the server did not report its address: {e}"
                )));
            }
        };
        let address = match report {
            Ok(address) => address,
            Err(failure) => {
                let _ = process.join_timeout(STOP_TIMEOUT);
                return Err(match failure {
                    StartFailure::Bind(why) => Error::Start(why),
                    StartFailure::Initializer(why) => Error::Initializer(why),
                });
            }
        };
        let pool = Pool::get(&address, authkey.as_deref(), &self.client_transport);
        Ok(Manager {
            address,
            authkey,
            link: parking_lot::Mutex::new(Link::new(pool)),
            owner: mp_process::pid(),
            server: Mutex::new(Some(ServerProcess {
                process,
                lifeline: ours,
            })),
        })
    }

    /// Connects to a running server at the configured address (Python's
    /// `connect()`); the handle does not own the server.
    ///
    /// A wrong authkey is [`Error::Authentication`] here, and the server
    /// refuses the peer too.
    pub fn connect(self) -> Result<Manager> {
        let address = self
            .address
            .ok_or_else(|| {
                Error::Connect(mp_pipe::Error::Protocol(
                    "connect needs the server's address".into(),
                ))
            })?
            .map_err(Error::Address)?;
        let authkey = self.authkey;
        check_authkey(authkey.as_deref())?;
        if address.is_tcp() && authkey.is_none() {
            return Err(Error::InsecureTcp);
        }
        let pool = Pool::get(&address, authkey.as_deref(), &self.client_transport);
        let conn = pool.connect().map_err(|e| match e {
            mp_pipe::Error::Authentication(why) => Error::Authentication(why),
            mp_pipe::Error::InsecureTcp => Error::InsecureTcp,
            other => Error::Connect(other),
        })?;
        drop(conn);
        Ok(Manager {
            address,
            authkey,
            link: parking_lot::Mutex::new(Link::new(pool)),
            owner: mp_process::pid(),
            server: Mutex::new(None),
        })
    }

    /// Binds the server in this process, ready to
    /// [`serve_forever`](Server::serve_forever) (Python's `get_server()`).
    pub fn get_server(mut self) -> Result<Server> {
        let setup = self.setup()?;
        if let Some(initializer) = setup.initializer {
            initializer.run().map_err(Error::Initializer)?;
        }
        check_authkey(setup.authkey.as_deref())?;
        if setup.address.is_tcp() && setup.authkey.is_none() {
            return Err(Error::InsecureTcp);
        }
        (self.register)(&mut self.registrar);
        let bound = Bound::bind(
            setup.address,
            setup.authkey.as_deref(),
            setup.max_message_size,
            setup.transport,
            self.registrar,
        )
        .map_err(|e| match e {
            mp_pipe::Error::InsecureTcp => Error::InsecureTcp,
            other => Error::Pipe(other),
        })?;
        Ok(Server { bound })
    }

    /// Runs the server in this process until it fails (Python's
    /// `get_server().serve_forever()`); nothing ties its life to another
    /// process.
    pub fn serve_forever(self) -> Result<()> {
        self.get_server()?.serve_forever()
    }
}

impl fmt::Debug for BaseManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseManager")
            .field("address", &self.address)
            .field("authenticated", &self.authkey.is_some())
            .field("start_method", &self.method)
            .field("registered", &self.registrar)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

/// Refuses an empty authkey, with the error mp-pipe's listeners and
/// clients give (an empty key would authenticate anyone).
fn check_authkey(key: Option<&[u8]>) -> Result<()> {
    match mp_pipe::MpHandshake::new(key) {
        Ok(_) => Ok(()),
        Err(mp_pipe::Error::Authentication(why)) => Err(Error::Authentication(why)),
        Err(other) => Err(Error::Pipe(other)),
    }
}

/// The server process, not started yet.
fn server_process<R: Registry>(setup: Setup, lifeline: Connection) -> Process {
    Process::new(serve_process::<R>, (setup, lifeline))
}

/// The server process's body.
fn serve_process<R: Registry>(setup: Setup, lifeline: Connection) {
    serve_with(Registrar::new(), R::register, setup, lifeline);
}

fn serve_with(
    mut registrar: Registrar,
    register: fn(&mut Registrar),
    setup: Setup,
    lifeline: Connection,
) {
    mp_process::set_current_name("SyncManager");
    if let Some(initializer) = setup.initializer {
        if let Err(why) = initializer.run() {
            let _ = lifeline.send(&Report::Err(StartFailure::Initializer(why)));
            return;
        }
    }
    register(&mut registrar);
    let bound = match Bound::bind(
        setup.address,
        setup.authkey.as_deref(),
        setup.max_message_size,
        setup.transport,
        registrar,
    ) {
        Ok(bound) => bound,
        Err(e) => {
            let _ = lifeline.send(&Report::Err(StartFailure::Bind(e.to_string())));
            return;
        }
    };
    let address = bound.address().clone();
    log::info!(target: "mp::manager", "manager serving at {address}");
    if lifeline.send(&Report::Ok(address.clone())).is_err() {
        return;
    }
    // The owner says stop, or is gone: either way the server ends.
    let watcher = std::thread::Builder::new()
        .name("mp-manager-lifeline".into())
        .spawn(move || {
            let _ = lifeline.recv::<()>();
            log::info!(target: "mp::manager", "manager received shutdown message");
            remove_socket_file(&address);
            std::process::exit(0);
        });
    if watcher.is_err() {
        return;
    }
    let _ = bound.serve_forever();
}

/// Removes the socket file of a Unix-path address (the listener's own
/// cleanup does not run when the server process exits). Only a socket is
/// removed, never another kind of file.
fn remove_socket_file(address: &Address) {
    use std::os::unix::fs::FileTypeExt;
    if let Address::Unix(path) = address {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A server bound in this process (from [`BaseManager::get_server`]).
pub struct Server {
    bound: Bound,
}

impl Server {
    /// The address it listens on (with the real port if port 0 was asked for).
    pub fn address(&self) -> &Address {
        self.bound.address()
    }

    /// Serves clients until the listener fails (normally: forever).
    pub fn serve_forever(self) -> Result<()> {
        self.bound.serve_forever().map_err(Error::Io)
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("address", self.address())
            .finish()
    }
}

struct ServerProcess {
    process: Process,
    lifeline: Connection,
}

/// A running manager: the factory of proxies (Python's `SyncManager`, as
/// returned by `multiprocessing.Manager()`).
///
/// Made by [`Manager::start`] (which starts a server process and owns it)
/// or [`Manager::connect`] / [`BaseManager`] (a server that runs elsewhere).
/// [`shutdown`](Manager::shutdown) (or drop) stops an owned server; from
/// then on every proxy call fails at once with [`Error::ManagerClosed`],
/// in this process and in every other.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let records = manager.list::<(String, u32)>()?;
/// records.append(&("Sam".into(), 10))?;
/// manager.shutdown()?;
#[doc = concat!("assert!(matches!(records.len(), Err(", crate::mp_crate!(manager), "::Error::ManagerClosed)));")]
/// # Ok(())
/// # }
/// ```
pub struct Manager {
    address: Address,
    authkey: Option<Vec<u8>>,
    link: parking_lot::Mutex<Link>,
    owner: u32,
    server: Mutex<Option<ServerProcess>>,
}

impl Manager {
    /// Starts a manager server with the defaults (Python's
    /// `multiprocessing.Manager()`); see [`BaseManager`] for settings.
    pub fn start() -> Result<Manager> {
        BaseManager::new().start()
    }

    /// Connects to the manager at `address` (Python's
    /// `BaseManager(address, authkey).connect()`): anything [`ToAddress`],
    /// such as `manager.address()` or `"127.0.0.1:50000"`.
    pub fn connect(address: impl ToAddress, authkey: &[u8]) -> Result<Manager> {
        BaseManager::new()
            .address(address)
            .authkey(authkey)
            .connect()
    }

    /// The server's address (give it, with the authkey, to other processes
    /// that should connect).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The authkey in use.
    pub fn authkey(&self) -> Option<&[u8]> {
        self.authkey.as_deref()
    }

    /// The server's process id, if this handle started it.
    pub fn pid(&self) -> Option<u32> {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|s| s.process.pid())
    }

    /// This process's pool of connections to the server.
    pub(crate) fn pool(&self) -> Arc<Pool> {
        self.link.lock().pool().0
    }

    /// Counters from the server (Python's `_debug_info`).
    pub fn debug_info(&self) -> Result<DebugInfo> {
        match self.pool().request(Request::DebugInfo, Wait::Now)? {
            Answer::Info(info) => Ok(info),
            other => Err(unexpected(other)),
        }
    }

    /// The number of objects on the server (Python's `_number_of_objects`).
    #[doc(alias = "_number_of_objects")]
    pub fn number_of_objects(&self) -> Result<usize> {
        self.debug_info().map(|i| i.objects as usize)
    }

    /// Stops the server this handle started (Python's `shutdown()`); for a
    /// connected handle, disconnects this process. Either way, every proxy
    /// of this manager in this process fails with [`Error::ManagerClosed`]
    /// from now on (in other processes too, for an owned server). Calling it
    /// again does nothing.
    pub fn shutdown(&self) -> Result<()> {
        Pool::close_all(&self.address);
        if mp_process::pid() != self.owner {
            // A forked copy of the handle does not own the server.
            return Ok(());
        }
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(ServerProcess { process, lifeline }) = server else {
            return Ok(());
        };
        log::info!(target: "mp::manager", "sending shutdown message to manager at {}", self.address);
        let _ = lifeline.send(&());
        drop(lifeline);
        if process.join_timeout(STOP_TIMEOUT)?.is_none() {
            process.kill()?;
            process.join_timeout(STOP_TIMEOUT)?;
            // A killed server could not clean up after itself.
            remove_socket_file(&self.address);
        }
        Ok(())
    }
}

impl Drop for Manager {
    /// Stops an owned server (like [`shutdown`](Manager::shutdown)). Dropping
    /// a connected handle, or a forked copy, leaves proxies working.
    fn drop(&mut self) {
        let owned = self
            .server
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if owned && mp_process::pid() == self.owner {
            let _ = self.shutdown();
        }
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("address", &self.address)
            .field("pid", &self.pid())
            .finish()
    }
}
