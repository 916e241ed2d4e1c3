//! One connection to Redis with timeouts everywhere, reconnected on demand.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use redis::{Client, Cmd, Connection, FromRedisValue, Pipeline, Script, ScriptInvocation};

use crate::error::{Error, Result};

/// How long to wait for Redis: to connect, and for the answer to a
/// command that does not block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) io: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            io: Duration::from_secs(5),
        }
    }
}

/// A lazily (re)connected connection. Any error that leaves the
/// connection in doubt (I/O, timeout, a dropped link) drops it; the next
/// call connects again, so a restarted Redis is picked up without help.
pub(crate) struct Link {
    client: Client,
    conn: Option<Connection>,
    timeouts: Timeouts,
    /// The read timeout set on `conn` (set again only when it changes).
    read_timeout: Option<Duration>,
    /// Incremented on every new connection: a caller that saw generation
    /// `g` knows a later one means Redis may have lost state in between.
    generation: u64,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("connected", &self.conn.is_some())
            .field("generation", &self.generation)
            .finish()
    }
}

impl Link {
    /// A link to the Redis at `url` (`redis://`, `rediss://` with the `tls`
    /// feature, `redis+unix://`), trusting `tls_root` (PEM) instead of the
    /// system's roots if given; connects at the first command.
    pub(crate) fn new(url: &str, timeouts: Timeouts, tls_root: Option<&[u8]>) -> Result<Link> {
        let client = open_client(url, tls_root).map_err(|e| match Error::from(e) {
            Error::Redis(why) => Error::InvalidUrl(why),
            other => other,
        })?;
        Ok(Link {
            client,
            conn: None,
            timeouts,
            read_timeout: None,
            generation: 0,
        })
    }

    /// A second link to the same Redis (for another thread).
    pub(crate) fn duplicate(&self) -> Link {
        Link {
            client: self.client.clone(),
            conn: None,
            timeouts: self.timeouts,
            read_timeout: None,
            generation: 0,
        }
    }

    /// How many connections this link has made.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The connection, with `read` as its read timeout, connecting first
    /// if needed (within the connect timeout, or less if `deadline` is
    /// nearer).
    fn connection(&mut self, read: Duration, deadline: Option<Instant>) -> Result<&mut Connection> {
        if self.conn.is_none() {
            let mut wait = self.timeouts.connect;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                wait = wait.min(left.max(Duration::from_millis(1)));
            }
            let conn = self.client.get_connection_with_timeout(wait)?;
            conn.set_write_timeout(Some(self.timeouts.io))?;
            self.conn = Some(conn);
            self.read_timeout = None;
            self.generation += 1;
        }
        let conn = self.conn.as_mut().expect("connected above");
        let read = read.max(Duration::from_millis(1));
        if self.read_timeout != Some(read) {
            conn.set_read_timeout(Some(read))?;
            self.read_timeout = Some(read);
        }
        Ok(conn)
    }

    /// Runs `f` on the connection (read timeout `read`). A connection that
    /// turns out dead before the command left (the write failed: Redis
    /// closed it, as when it restarted) is replaced and `f` tried once
    /// more, since Redis cannot have seen the command; any other error that
    /// leaves the connection in doubt drops it, and the next call connects
    /// again.
    fn run<T>(
        &mut self,
        read: Duration,
        deadline: Option<Instant>,
        f: impl Fn(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut retried = false;
        loop {
            let reused = self.conn.is_some();
            let outcome = f(self.connection(read, deadline)?);
            match outcome {
                Ok(value) => return Ok(value),
                Err(e) => {
                    let unsent = reused && !retried && write_failed(&e);
                    let error = Error::from(e);
                    if matches!(error, Error::Unavailable(_) | Error::Auth(_)) {
                        self.conn = None;
                    }
                    if !unsent {
                        return Err(error);
                    }
                    retried = true;
                }
            }
        }
    }

    /// Runs a command that does not block in Redis.
    pub(crate) fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.query_blocking(cmd, Duration::ZERO, None)
    }

    /// Runs a command that may block in Redis for up to `block` (an
    /// `XREADGROUP ... BLOCK`), connecting before `deadline` at the latest.
    pub(crate) fn query_blocking<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        block: Duration,
        deadline: Option<Instant>,
    ) -> Result<T> {
        let read = self.timeouts.io + block;
        self.run(read, deadline, |conn| cmd.query(conn))
    }

    /// Runs a pipeline (a `MULTI`/`EXEC` one if it was made atomic).
    pub(crate) fn pipe<T: FromRedisValue>(&mut self, pipe: &Pipeline) -> Result<T> {
        let read = self.timeouts.io;
        self.run(read, None, |conn| pipe.query(conn))
    }

    /// Runs a Lua script (`EVALSHA`, loading it on `NOSCRIPT`).
    pub(crate) fn script<T: FromRedisValue>(&mut self, call: &ScriptInvocation<'_>) -> Result<T> {
        let read = self.timeouts.io;
        self.run(read, None, |conn| call.invoke(conn))
    }
}

/// Whether `e` is a write to a connection the peer had already closed
/// (`EPIPE`): the command never reached Redis. (The client keeps the
/// `io::Error` private; its message carries the OS error number.)
fn write_failed(e: &redis::RedisError) -> bool {
    let epipe = format!("(os error {})", rustix::io::Errno::PIPE.raw_os_error());
    e.is_connection_dropped() && e.to_string().contains(&epipe)
}

#[cfg(feature = "tls")]
fn open_client(url: &str, tls_root: Option<&[u8]>) -> redis::RedisResult<Client> {
    match tls_root {
        Some(pem) => Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        None => Client::open(url),
    }
}

#[cfg(not(feature = "tls"))]
fn open_client(url: &str, tls_root: Option<&[u8]>) -> redis::RedisResult<Client> {
    if tls_root.is_some() || url.starts_with("rediss:") {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "TLS needs mp-redis's `tls` feature",
        )));
    }
    Client::open(url)
}

/// Whether `e` says a consumer group (or its stream) does not exist, as
/// after a Redis restart without persistence.
pub(crate) fn is_no_group(e: &Error) -> bool {
    matches!(e, Error::Redis(why) if why.contains("NOGROUP"))
}

/// Creates `group` on `stream` (and the stream) unless it exists; new
/// groups start at the beginning, so entries put before the group existed
/// are delivered.
pub(crate) fn ensure_group(link: &mut Link, stream: &str, group: &str) -> Result<()> {
    let created: Result<()> = link.query(
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM"),
    );
    match created {
        Err(Error::Redis(why)) if why.contains("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// A Lua script, compiled once per process.
pub(crate) fn script(source: &'static str) -> Script {
    Script::new(source)
}

/// Exponential backoff for loops that must outlive a Redis outage.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    pub(crate) fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The next pause (10 ms, doubling up to 1 s).
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Connections shared by the threads using one handle: a call takes an
/// idle one (or makes one) and gives it back, so a thread blocked in a
/// `get` never holds up another thread's `put`.
pub(crate) struct Links {
    template: Mutex<Link>,
    idle: Mutex<Vec<Link>>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("idle", &self.idle.lock().len())
            .finish()
    }
}

impl Links {
    pub(crate) fn new(link: Link) -> Links {
        Links {
            template: Mutex::new(link),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A new, unconnected link to the same Redis (for a thread of its own).
    pub(crate) fn fresh(&self) -> Link {
        self.template.lock().duplicate()
    }

    /// Runs `f` on an idle connection.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Link) -> R) -> R {
        let mut link = self.idle.lock().pop().unwrap_or_else(|| self.fresh());
        let out = f(&mut link);
        self.idle.lock().push(link);
        out
    }
}
