//! A private `redis-server` for tests, benches and trying things out: it
//! listens on a Unix socket in its own temporary directory (or a loopback
//! port), and dies with the thread that started it (a parent-death signal
//! set by util-linux's `setpriv`), so it never outlives a crashed test.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a [`RedisServer`] is started.
#[derive(Clone, Debug, Default)]
pub struct RedisServerBuilder {
    port: Option<u16>,
    tls: Option<[PathBuf; 3]>,
    bind: Option<String>,
    persistence: bool,
    args: Vec<String>,
}

impl RedisServerBuilder {
    /// Listens on TCP `port` (0: a free one) of loopback instead of a Unix socket.
    pub fn port(mut self, port: u16) -> RedisServerBuilder {
        self.port = Some(port);
        self
    }

    /// Listens on TCP at `address` (with [`port`](RedisServerBuilder::port),
    /// default a free one) instead of loopback.
    pub fn bind(mut self, address: &str) -> RedisServerBuilder {
        self.bind = Some(address.to_owned());
        self.port.get_or_insert(0);
        self
    }

    /// Turns on the append-only file, synced on every write
    /// (`--appendonly yes --appendfsync always`): what Redis acknowledged
    /// survives a restart, even a SIGKILL.
    pub fn persistence(mut self, on: bool) -> RedisServerBuilder {
        self.persistence = on;
        self
    }

    /// Serves TLS only, on a loopback port (`rediss://127.0.0.1:port/`),
    /// with this certificate, key and CA certificate (PEM files); clients
    /// need no certificate of their own.
    pub fn tls(mut self, cert: &Path, key: &Path, ca: &Path) -> RedisServerBuilder {
        self.tls = Some([cert.to_owned(), key.to_owned(), ca.to_owned()]);
        self.port.get_or_insert(0);
        self
    }

    /// More `redis-server` arguments (`--requirepass`, `--user`, ...).
    pub fn arg(mut self, arg: &str) -> RedisServerBuilder {
        self.args.push(arg.to_owned());
        self
    }

    /// Starts the server and waits until it answers.
    pub fn start(self) -> io::Result<RedisServer> {
        let dir = std::env::temp_dir().join(format!(
            "mp-redis-{}-{:016x}",
            std::process::id(),
            crate::random_u64()
        ));
        std::fs::create_dir_all(&dir)?;
        let port = match self.port {
            Some(0) => Some(free_port(self.bind.as_deref().unwrap_or("127.0.0.1"))?),
            other => other,
        };
        let mut server = RedisServer {
            child: None,
            dir,
            port,
            builder: self,
        };
        server.launch()?;
        Ok(server)
    }
}

fn free_port(address: &str) -> io::Result<u16> {
    Ok(std::net::TcpListener::bind((address, 0))?
        .local_addr()?
        .port())
}

/// A `redis-server` child process with its own directory; killed (and its
/// directory removed) on drop.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
#[doc = concat!("let server = ", crate::mp_crate!(redis), "::RedisServer::start()?;")]
#[doc = concat!("let q: ", crate::mp_crate!(redis), "::Queue<u32> = ", crate::mp_crate!(redis), "::Queue::open(&server.url(), \"q\").unwrap();")]
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    port: Option<u16>,
    builder: RedisServerBuilder,
}

impl RedisServer {
    /// Whether `redis-server` can be run here.
    pub fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A server on a Unix socket, without persistence.
    pub fn start() -> io::Result<RedisServer> {
        RedisServer::builder().start()
    }

    /// Settings for a server.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// Its directory (socket, append-only file, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The URL clients use (`redis+unix:///...` or `redis://host:port/`).
    pub fn url(&self) -> String {
        match self.port {
            Some(port) => format!(
                "{}://{}:{port}/",
                if self.builder.tls.is_some() {
                    "rediss"
                } else {
                    "redis"
                },
                self.builder.bind.as_deref().unwrap_or("127.0.0.1")
            ),
            None => format!("redis+unix://{}", self.socket().display()),
        }
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", "redis-server"]);
        let dir = self.dir.display().to_string();
        cmd.args(["--dir", &dir, "--save", "", "--logfile", "redis.log"]);
        match self.port {
            Some(port) => {
                let bind = self.builder.bind.as_deref().unwrap_or("127.0.0.1");
                match &self.builder.tls {
                    Some([cert, key, ca]) => {
                        cmd.args(["--port", "0", "--tls-port", &port.to_string()]);
                        cmd.arg("--tls-cert-file").arg(cert);
                        cmd.arg("--tls-key-file").arg(key);
                        cmd.arg("--tls-ca-cert-file").arg(ca);
                        cmd.args(["--tls-auth-clients", "no"]);
                    }
                    None => {
                        cmd.args(["--port", &port.to_string()]);
                    }
                }
                cmd.args(["--bind", bind, "--protected-mode", "no"]);
            }
            None => {
                let socket = self.socket().display().to_string();
                cmd.args([
                    "--port",
                    "0",
                    "--unixsocket",
                    &socket,
                    "--unixsocketperm",
                    "700",
                ]);
            }
        }
        if self.builder.persistence {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.args(&self.builder.args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(cmd.spawn()?);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            // Up once it answers PING: while it loads its dataset (after a
            // restart with persistence) it accepts connections but answers
            // every command with LOADING.
            // (A TLS port is only connected to.)
            const PATIENCE: Option<Duration> = Some(Duration::from_secs(1));
            let up = match self.port {
                Some(port) => {
                    let bind = self.builder.bind.as_deref().unwrap_or("127.0.0.1");
                    std::net::TcpStream::connect((bind, port)).is_ok_and(|s| {
                        self.builder.tls.is_some()
                            || (s.set_read_timeout(PATIENCE).is_ok() && answers_ping(s))
                    })
                }
                None => std::os::unix::net::UnixStream::connect(self.socket())
                    .is_ok_and(|s| s.set_read_timeout(PATIENCE).is_ok() && answers_ping(s)),
            };
            if up {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "redis-server exited ({status}): {log}"
                )));
            }
            if Instant::now() > end {
                return Err(io::Error::other("redis-server did not start in 20 s"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the server now (SIGKILL: no shutdown save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts the server again with the same settings, directory and
    /// address (after [`kill`](RedisServer::kill)).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.launch()
    }
}

/// Whether the server on `stream` answers `PING` with anything but
/// `LOADING` (a server with `requirepass` or ACL users answers NOAUTH: it is
/// up too).
fn answers_ping<S: io::Read + io::Write>(mut stream: S) -> bool {
    let mut answer = [0u8; 8];
    stream.write_all(b"PING\r\n").is_ok()
        && stream
            .read(&mut answer)
            .is_ok_and(|n| n > 0 && !answer[..n].starts_with(b"-LOADING"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
