//! `Queue` and `JoinableQueue` on a Redis stream with a consumer group.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Script, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::claims::Claims;
use crate::error::{Error, Result};
use crate::link::{self, Link, Links, Timeouts};
use crate::stream::{self, Consumer, Entry};

/// How long an entry received in tracked form may go without a sign of
/// life from its consumer before another consumer gets it.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times an entry is delivered without being acknowledged before
/// it goes to the dead letters (a pool task: fails with `WorkerLost`).
pub const DEFAULT_MAX_DELIVERIES: u32 = 3;

/// The consumer group every handle of a queue reads through.
const GROUP: &str = "mp";

/// Settings shared by queues and pools: where Redis is and how patient to
/// be (they travel with a queue handle or a local worker to a child).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) visibility: Duration,
    pub(crate) max_deliveries: u32,
    pub(crate) timeouts: Timeouts,
    /// A PEM root certificate to trust for `rediss://` instead of the
    /// system's.
    pub(crate) tls_root: Option<Vec<u8>>,
}

impl Settings {
    pub(crate) fn new(url: &str, name: &str) -> Settings {
        Settings {
            url: url.to_owned(),
            name: name.to_owned(),
            visibility: DEFAULT_VISIBILITY_TIMEOUT,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            timeouts: Timeouts::default(),
            tls_root: None,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::InvalidSetting("the name is empty".into()));
        }
        if self.visibility < Duration::from_millis(10) {
            return Err(Error::InvalidSetting(
                "the visibility timeout is under 10 ms".into(),
            ));
        }
        if self.max_deliveries == 0 {
            return Err(Error::InvalidSetting("max_deliveries is 0".into()));
        }
        Ok(())
    }

    /// Checks the settings and makes a (not yet connected) link.
    pub(crate) fn link(&self) -> Result<Link> {
        self.check()?;
        Link::new(&self.url, self.timeouts, self.tls_root.as_deref())
    }

    /// How long one blocking read waits in Redis before looking again at
    /// reclaimable entries, timeouts and `close`.
    pub(crate) fn slice(&self) -> Duration {
        (self.visibility / 4).clamp(Duration::from_millis(10), Duration::from_millis(500))
    }

    /// How often a consumer renews its claims.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.visibility / 3
    }
}

/// A consumer name unique across hosts: host, pid and 64 random bits.
pub(crate) fn consumer_name(tag: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!(
        "{}:{}:{tag}:{:016x}",
        host.trim(),
        std::process::id(),
        crate::random_u64()
    )
}

/// Settings for a [`Queue`] (Python's `Queue(maxsize)`, plus what a queue
/// across hosts needs).
///
/// ```no_run
/// use std::time::Duration;
/// use mp_redis::QueueBuilder;
///
/// # fn main() -> Result<(), mp_redis::Error> {
/// let q: mp_redis::Queue<String> = QueueBuilder::new("redis://127.0.0.1/", "jobs")
///     .maxsize(100)
///     .visibility_timeout(Duration::from_secs(30))
///     .max_deliveries(5)
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct QueueBuilder {
    settings: Settings,
    maxsize: usize,
}

impl QueueBuilder {
    /// The queue `name` on the Redis at `url` (`redis://[user:pass@]host[:port][/db]`,
    /// `redis+unix:///path?user=..&pass=..`, `rediss://` with the `tls`
    /// feature). Every key of the queue starts with `name:`.
    pub fn new(url: &str, name: &str) -> QueueBuilder {
        QueueBuilder {
            settings: Settings::new(url, name),
            maxsize: 0,
        }
    }

    /// At most `n` items waiting at once: `put` waits for room (Python's
    /// `Queue(maxsize)`); 0 means no limit. Every handle of a queue should
    /// use the same value.
    pub fn maxsize(mut self, n: usize) -> QueueBuilder {
        self.maxsize = n;
        self
    }

    /// How long an entry received with [`get_tracked`](Queue::get_tracked)
    /// may go unrenewed before another consumer gets it (default
    /// [`DEFAULT_VISIBILITY_TIMEOUT`]). A live [`Delivery`] renews its
    /// claim every third of it.
    pub fn visibility_timeout(mut self, timeout: Duration) -> QueueBuilder {
        self.settings.visibility = timeout;
        self
    }

    /// How many deliveries without an acknowledgement an entry gets before
    /// it moves to the dead letters (default [`DEFAULT_MAX_DELIVERIES`]).
    pub fn max_deliveries(mut self, n: u32) -> QueueBuilder {
        self.settings.max_deliveries = n;
        self
    }

    /// How long to wait for a connection to Redis (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> QueueBuilder {
        self.settings.timeouts.connect = timeout;
        self
    }

    /// How long to wait for Redis to answer a command (default 5 s).
    pub fn io_timeout(mut self, timeout: Duration) -> QueueBuilder {
        self.settings.timeouts.io = timeout;
        self
    }

    /// Trusts `pem` (a PEM root certificate) for a `rediss://` URL instead
    /// of the system's roots (needs the `tls` feature).
    pub fn tls_root_cert(mut self, pem: &[u8]) -> QueueBuilder {
        self.settings.tls_root = Some(pem.to_vec());
        self
    }

    /// Opens the queue (creating its stream and group if they are new).
    pub fn build<T>(self) -> Result<Queue<T>> {
        Ok(Queue {
            core: Arc::new(Core::open(self.settings, self.maxsize, false)?),
            _items: PhantomData,
        })
    }

    /// Opens the queue as a [`JoinableQueue`].
    pub fn build_joinable<T>(self) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue {
                core: Arc::new(Core::open(self.settings, self.maxsize, true)?),
                _items: PhantomData,
            },
        })
    }
}

struct Keys {
    stream: String,
    dead: String,
    unfinished: String,
}

struct Core {
    settings: Settings,
    maxsize: usize,
    joinable: bool,
    keys: Keys,
    consumer: Consumer,
    links: Links,
    cursor: Mutex<String>,
    closed: AtomicBool,
    claims: OnceLock<Claims>,
}

/// Adds an item if there is room; counts it as unfinished for a joinable
/// queue. Nil when full.
static PUT: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local max = tonumber(ARGV[2])
if max > 0 then
  local waiting = redis.call('XLEN', KEYS[1]) - redis.call('XPENDING', KEYS[1], ARGV[1])[1]
  if waiting >= max then return false end
end
local id = redis.call('XADD', KEYS[1], '*', 'd', ARGV[4])
if ARGV[3] == '1' then redis.call('INCR', KEYS[2]) end
return id
"#,
    )
});

/// Entries waiting (not delivered to any consumer).
static WAITING: LazyLock<Script> = LazyLock::new(|| {
    link::script("return redis.call('XLEN', KEYS[1]) - redis.call('XPENDING', KEYS[1], ARGV[1])[1]")
});

/// Acknowledges a tracked entry; 1 if this call settled it.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  if ARGV[3] == '1' and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
    redis.call('DECR', KEYS[2])
  end
end
return n
"#,
    )
});

/// `task_done`: -1 if nothing was unfinished.
static TASK_DONE: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
"#,
    )
});

impl Core {
    fn open(settings: Settings, maxsize: usize, joinable: bool) -> Result<Core> {
        let link = settings.link()?;
        let name = &settings.name;
        let keys = Keys {
            stream: format!("{name}:stream"),
            dead: format!("{name}:dead"),
            unfinished: format!("{name}:unfinished"),
        };
        let consumer = Consumer {
            stream: keys.stream.clone(),
            dead: keys.dead.clone(),
            group: GROUP.into(),
            name: consumer_name("q"),
            visibility: settings.visibility,
            max_deliveries: settings.max_deliveries,
        };
        let core = Core {
            maxsize,
            joinable,
            keys,
            consumer,
            links: Links::new(link),
            cursor: Mutex::new("0-0".into()),
            closed: AtomicBool::new(false),
            claims: OnceLock::new(),
            settings,
        };
        core.links
            .with(|l| link::ensure_group(l, &core.keys.stream, GROUP))?;
        Ok(core)
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Runs `f`, creating the group again (once) if Redis lost it.
    fn with_group<R>(&self, f: impl Fn(&mut Link) -> Result<R>) -> Result<R> {
        self.links.with(|l| match f(l) {
            Err(e) if link::is_no_group(&e) => {
                link::ensure_group(l, &self.keys.stream, GROUP)?;
                f(l)
            }
            other => other,
        })
    }

    fn put(&self, data: &[u8], deadline: Option<Instant>, count_task: bool) -> Result<()> {
        self.check_open()?;
        if self.maxsize == 0 && !count_task {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(&self.keys.stream).arg("*").arg("d").arg(data);
            return self.links.with(|l| l.query::<Value>(&cmd)).map(drop);
        }
        let mut pause = Duration::from_millis(1);
        loop {
            let added: Option<String> = self.with_group(|l| {
                let mut inv = PUT.prepare_invoke();
                inv.key(&self.keys.stream)
                    .key(&self.keys.unfinished)
                    .arg(GROUP)
                    .arg(self.maxsize)
                    .arg(if count_task { "1" } else { "0" })
                    .arg(data);
                l.script(&inv)
            })?;
            if added.is_some() {
                return Ok(());
            }
            // Full: back-pressure, polling with a growing pause.
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => return Err(Error::Full),
                Some(d) => d - now,
                None => Duration::MAX,
            };
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
            self.check_open()?;
        }
    }

    /// Receives one entry: removed from the queue (`remove`), or held by
    /// this consumer until acknowledged.
    fn receive(&self, deadline: Option<Instant>, remove: bool) -> Result<Entry> {
        loop {
            self.check_open()?;
            let taken = self.links.with(|l| {
                let mut cursor = self.cursor.lock();
                self.consumer.take(l, &mut cursor, 1, remove)
            })?;
            if let Some(entry) = taken.entries.into_iter().next() {
                return Ok(entry);
            }
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => return Err(Error::Empty),
                Some(d) => (d - now).min(self.settings.slice()),
                None => self.settings.slice(),
            };
            let read = self.links.with(|l| -> Result<Option<Entry>> {
                let entries = self.consumer.read_blocking(l, 1, slice, deadline)?;
                let Some(entry) = entries.into_iter().next() else {
                    return Ok(None);
                };
                if remove {
                    // If this fails or we die here, the entry stays pending
                    // and is delivered again after the visibility timeout.
                    self.consumer.remove(l, &[&entry.id])?;
                }
                Ok(Some(entry))
            })?;
            if let Some(entry) = read {
                return Ok(entry);
            }
        }
    }

    fn claims(&self) -> &Claims {
        self.claims.get_or_init(|| {
            Claims::start(
                self.links.fresh(),
                self.consumer.clone(),
                self.settings.heartbeat(),
            )
        })
    }

    fn waiting(&self) -> Result<usize> {
        self.with_group(|l| {
            let mut inv = WAITING.prepare_invoke();
            inv.key(&self.keys.stream).arg(GROUP);
            l.script::<i64>(&inv)
        })
        .map(|n| n.max(0) as usize)
    }

    fn unfinished(&self) -> Result<usize> {
        let n: Option<i64> = self
            .links
            .with(|l| l.query(redis::cmd("GET").arg(&self.keys.unfinished)))?;
        Ok(n.unwrap_or(0).max(0) as usize)
    }
}

fn decode<T: DeserializeOwned>(entry: &Entry) -> Result<T> {
    let data = entry
        .field("d")
        .ok_or_else(|| Error::Decode(format!("entry {} has no data field", entry.id)))?;
    postcard::from_bytes(data).map_err(|e| Error::Decode(e.to_string()))
}

fn encode<T: Serialize>(item: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(item).map_err(|e| Error::Encode(e.to_string()))
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A FIFO queue on a Redis stream, shared by every process on every host
/// that opens it by name (Python's `multiprocessing.Queue`, across
/// machines).
///
/// Items are serde values (postcard bytes in the stream entries). Two ways
/// to receive:
///
/// - [`get`](Queue::get) takes the item off the queue, as Python's `get`.
/// - [`get_tracked`](Queue::get_tracked) hands out a [`Delivery`]: the
///   item stays claimed by this consumer until [`Delivery::done`]. If the
///   consumer dies (SIGKILL, host lost) the item goes to another consumer
///   after the visibility timeout; after `max_deliveries` deliveries
///   without `done` it moves to the dead letters ([`dead_letters`](Queue::dead_letters))
///   instead of being retried forever.
///
/// A `Queue` is a handle: clone it to share it between threads (calls on
/// different threads use different connections), or send it to a child
/// `Process` (it travels as its URL, name and settings).
///
/// # Example
///
/// ```no_run
/// use mp_redis::Queue;
///
/// # fn main() -> Result<(), mp_redis::Error> {
/// let q: Queue<u32> = Queue::open("redis://127.0.0.1/", "squares")?;
/// q.put(&4)?;
/// assert_eq!(q.get()?, 4);
/// # Ok(())
/// # }
/// ```
pub struct Queue<T> {
    core: Arc<Core>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Queue<T> {
    /// Opens the queue `name` on the Redis at `url`, without a `maxsize`.
    pub fn open(url: &str, name: &str) -> Result<Queue<T>> {
        QueueBuilder::new(url, name).build()
    }

    /// Opens the queue `name` holding at most `n` waiting items.
    pub fn with_maxsize(url: &str, name: &str, n: usize) -> Result<Queue<T>> {
        QueueBuilder::new(url, name).maxsize(n).build()
    }

    /// Settings beyond the URL and name.
    pub fn builder(url: &str, name: &str) -> QueueBuilder {
        QueueBuilder::new(url, name)
    }

    /// The number of items waiting (put and not yet received by anyone;
    /// Python's `qsize`).
    pub fn qsize(&self) -> Result<usize> {
        self.core.waiting()
    }

    /// Whether no item is waiting (Python's `empty`).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.core.waiting()? == 0)
    }

    /// Whether `maxsize` items are waiting (Python's `full`); always false
    /// without a `maxsize`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> Result<bool> {
        Ok(self.core.maxsize > 0 && self.core.waiting()? >= self.core.maxsize)
    }

    /// The `maxsize` of this handle, if any.
    pub fn maxsize(&self) -> Option<usize> {
        Some(self.core.maxsize).filter(|&n| n > 0)
    }

    /// The queue's name (the prefix of its keys).
    pub fn name(&self) -> &str {
        &self.core.settings.name
    }

    /// Closes this handle (and its clones) in this process: later calls
    /// fail with [`Error::Closed`], blocked ones within a fraction of the
    /// visibility timeout. The queue in Redis is untouched.
    pub fn close(&self) {
        self.core.closed.store(true, Ordering::Release);
    }

    /// Deletes the queue's keys from Redis (items, dead letters, the
    /// unfinished count): for tests and tear-down.
    pub fn delete_keys(&self) -> Result<()> {
        let keys = &self.core.keys;
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&keys.stream).arg(&keys.dead).arg(&keys.unfinished);
        self.core.links.with(|l| l.query::<i64>(&cmd)).map(drop)
    }
}

impl<T: Serialize> Queue<T> {
    /// Puts an item, waiting while the queue holds `maxsize` waiting items
    /// (Python's `put`). It returns once Redis has the item: with Redis
    /// persistence on (`appendonly yes`, `appendfsync always`), it survives
    /// a Redis restart.
    pub fn put(&self, item: &T) -> Result<()> {
        self.core.put(&encode(item)?, None, false)
    }

    /// Like [`put`](Queue::put), waiting at most `timeout` for room;
    /// [`Error::Full`] after that.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.core
            .put(&encode(item)?, deadline_after(timeout), false)
    }

    /// Puts an item only if there is room now (Python's `put_nowait`).
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: &T) -> Result<()> {
        self.core.put(&encode(item)?, Some(Instant::now()), false)
    }
}

impl<T: DeserializeOwned> Queue<T> {
    /// Takes the oldest waiting item, waiting until there is one (Python's
    /// `get`). An item that does not decode as `T` is taken off the queue
    /// and reported as [`Error::Decode`].
    pub fn get(&self) -> Result<T> {
        decode(&self.core.receive(None, true)?)
    }

    /// Like [`get`](Queue::get), waiting at most `timeout`;
    /// [`Error::Empty`] if nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        decode(&self.core.receive(deadline_after(timeout), true)?)
    }

    /// Takes an item only if one is waiting now (Python's `get_nowait`).
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T> {
        decode(&self.core.receive(Some(Instant::now()), true)?)
    }

    /// Receives the oldest item in tracked form: it stays claimed by this
    /// consumer (kept alive by a heartbeat while the [`Delivery`] lives)
    /// until [`Delivery::done`]; if this process dies first, another
    /// consumer receives it after the visibility timeout.
    pub fn get_tracked(&self) -> Result<Delivery<T>> {
        self.tracked(None)
    }

    /// Like [`get_tracked`](Queue::get_tracked), waiting at most `timeout`.
    pub fn get_tracked_timeout(&self, timeout: Duration) -> Result<Delivery<T>> {
        self.tracked(deadline_after(timeout))
    }

    /// Like [`get_tracked`](Queue::get_tracked), only if an item is there now.
    pub fn try_get_tracked(&self) -> Result<Delivery<T>> {
        self.tracked(Some(Instant::now()))
    }

    fn tracked(&self, deadline: Option<Instant>) -> Result<Delivery<T>> {
        let claims = self.core.claims();
        let entry = self.core.receive(deadline, false)?;
        claims.hold(&entry.id);
        // An undecodable item is reported now; it stays pending (unrenewed)
        // and goes to the dead letters after its deliveries.
        let value = decode(&entry)?;
        Ok(Delivery {
            core: self.core.clone(),
            id: entry.id,
            deliveries: entry.deliveries,
            value: Some(value),
            settled: false,
        })
    }

    /// The items that went to the dead letters (delivered `max_deliveries`
    /// times without `done`), oldest first; they stay there until
    /// [`clear_dead_letters`](Queue::clear_dead_letters).
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter<T>>> {
        let entries: Value = self.core.links.with(|l| {
            l.query(
                redis::cmd("XRANGE")
                    .arg(&self.core.keys.dead)
                    .arg("-")
                    .arg("+"),
            )
        })?;
        let wrapped = Value::Array(vec![Value::Array(vec![Value::Nil, entries])]);
        stream::parse_read(wrapped)?
            .into_iter()
            .map(|e| {
                Ok(DeadLetter {
                    id: e.text("id").unwrap_or_default().to_owned(),
                    deliveries: e
                        .text("deliveries")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    value: decode(&e),
                })
            })
            .collect()
    }

    /// Empties the dead letters.
    pub fn clear_dead_letters(&self) -> Result<()> {
        self.core
            .links
            .with(|l| l.query::<i64>(redis::cmd("DEL").arg(&self.core.keys.dead)))
            .map(drop)
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Queue<T> {
        Queue {
            core: self.core.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.core.settings.name)
            .field("maxsize", &self.core.maxsize)
            .field("consumer", &self.core.consumer.name)
            .finish()
    }
}

/// What a queue handle is when it travels to another process.
#[derive(Serialize, Deserialize)]
struct Spec {
    settings: Settings,
    maxsize: u64,
    joinable: bool,
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Spec {
            settings: self.core.settings.clone(),
            maxsize: self.core.maxsize as u64,
            joinable: self.core.joinable,
        }
        .serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Queue<T>, D::Error> {
        let spec = Spec::deserialize(deserializer)?;
        let core = Core::open(spec.settings, spec.maxsize as usize, spec.joinable)
            .map_err(serde::de::Error::custom)?;
        Ok(Queue {
            core: Arc::new(core),
            _items: PhantomData,
        })
    }
}

/// An item received with [`Queue::get_tracked`]: it derefs to the value.
///
/// Call [`done`](Delivery::done) once the work is finished. While the
/// delivery lives, a heartbeat keeps its claim alive; dropping it without
/// `done` abandons it, and it is delivered again after the visibility
/// timeout.
pub struct Delivery<T> {
    core: Arc<Core>,
    id: String,
    deliveries: u32,
    value: Option<T>,
    settled: bool,
}

impl<T> Delivery<T> {
    /// The stream entry id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times this item was delivered, this time included (more
    /// than 1: an earlier consumer died or abandoned it).
    pub fn deliveries(&self) -> u32 {
        self.deliveries
    }

    /// The value, keeping the delivery (to call `done` later).
    pub fn value(&self) -> &T {
        self.value.as_ref().expect("a delivery holds its value")
    }

    /// Acknowledges the item: it leaves the queue for good (on a
    /// [`JoinableQueue`] this is also its `task_done`). `Ok(false)`: the
    /// item had already been settled by another consumer, which received
    /// it after this one's claim lapsed.
    pub fn done(mut self) -> Result<bool> {
        self.settled = true;
        self.core.claims().release(&self.id);
        let mut inv = ACK.prepare_invoke();
        inv.key(&self.core.keys.stream)
            .key(&self.core.keys.unfinished)
            .arg(GROUP)
            .arg(&self.id)
            .arg(if self.core.joinable { "1" } else { "0" });
        let n: i64 = self.core.links.with(|l| l.script(&inv))?;
        Ok(n == 1)
    }
}

impl<T> std::ops::Deref for Delivery<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value()
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        if !self.settled {
            self.core.claims().release(&self.id);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("deliveries", &self.deliveries)
            .field("value", &self.value)
            .finish()
    }
}

/// An item that went to the dead letters.
#[derive(Debug)]
pub struct DeadLetter<T> {
    /// Its entry id in the queue's stream.
    pub id: String,
    /// How many times it was delivered without being acknowledged.
    pub deliveries: u32,
    /// The item (or why it did not decode).
    pub value: Result<T>,
}

/// A [`Queue`] whose consumers report each item done, so producers on any
/// host can wait until all work is finished (Python's `JoinableQueue`).
/// The count of unfinished tasks lives in Redis.
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> JoinableQueue<T> {
    /// Opens the joinable queue `name` on the Redis at `url`.
    pub fn open(url: &str, name: &str) -> Result<JoinableQueue<T>> {
        QueueBuilder::new(url, name).build_joinable()
    }

    /// Opens it holding at most `n` waiting items.
    pub fn with_maxsize(url: &str, name: &str, n: usize) -> Result<JoinableQueue<T>> {
        QueueBuilder::new(url, name).maxsize(n).build_joinable()
    }

    /// Marks one item taken with `get` as done (Python's `task_done`); more
    /// calls than items put is [`Error::TooManyTaskDone`].
    pub fn task_done(&self) -> Result<()> {
        let core = &self.queue.core;
        let mut inv = TASK_DONE.prepare_invoke();
        inv.key(&core.keys.unfinished);
        let n: i64 = core.links.with(|l| l.script(&inv))?;
        if n < 0 {
            return Err(Error::TooManyTaskDone);
        }
        Ok(())
    }

    /// Waits until every item put (by anyone) has been marked done
    /// (Python's `join`).
    pub fn join(&self) -> Result<()> {
        self.join_until(None)
    }

    /// Like [`join`](JoinableQueue::join), giving up with [`Error::Timeout`]
    /// after `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.join_until(deadline_after(timeout))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<()> {
        let mut pause = Duration::from_millis(1);
        loop {
            self.queue.core.check_open()?;
            if self.queue.core.unfinished()? == 0 {
                return Ok(());
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => return Err(Error::Timeout),
                Some(d) => d - now,
                None => Duration::MAX,
            };
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }

    /// Items put but not yet marked done (by anyone).
    pub fn unfinished_tasks(&self) -> Result<usize> {
        self.queue.core.unfinished()
    }
}

impl<T: Serialize> JoinableQueue<T> {
    /// Puts an item and counts it as an unfinished task.
    pub fn put(&self, item: &T) -> Result<()> {
        self.queue.core.put(&encode(item)?, None, true)
    }

    /// Like [`put`](JoinableQueue::put), waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.queue
            .core
            .put(&encode(item)?, deadline_after(timeout), true)
    }

    /// Puts an item only if there is room now.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: &T) -> Result<()> {
        self.queue
            .core
            .put(&encode(item)?, Some(Instant::now()), true)
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    /// Everything else is a [`Queue`]'s (`get`, `get_tracked`, `qsize`, ...).
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> JoinableQueue<T> {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinableQueue").field(&self.queue).finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<JoinableQueue<T>, D::Error> {
        Queue::deserialize(deserializer).map(|queue| JoinableQueue { queue })
    }
}
