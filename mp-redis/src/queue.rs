//! `Queue` and `QueueBuilder`: a queue on a Redis stream with a consumer group.

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
use crate::delivery::{DeadLetter, Delivery};
use crate::error::{Error, Result};
use crate::joinable::JoinableQueue;
use crate::link::{self, Link, Links};
use crate::settings::{Settings, consumer_name};
use crate::stream::{self, Consumer, Entry};

/// The consumer group every handle of a queue reads through.
pub(crate) const GROUP: &str = "mp";

/// Settings for a [`Queue`] (Python's `Queue(maxsize)`, plus what a queue
/// across hosts needs).
///
/// ```no_run
/// use std::time::Duration;
#[doc = concat!("use ", crate::mp_crate!(redis), "::QueueBuilder;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(redis), "::Error> {")]
#[doc = concat!("let q: ", crate::mp_crate!(redis), "::Queue<String> = QueueBuilder::new(\"redis://127.0.0.1/\", \"jobs\")")]
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
    /// [`DEFAULT_VISIBILITY_TIMEOUT`](crate::DEFAULT_VISIBILITY_TIMEOUT)). A live [`Delivery`] renews its
    /// claim every third of it.
    pub fn visibility_timeout(mut self, timeout: Duration) -> QueueBuilder {
        self.settings.visibility = timeout;
        self
    }

    /// How many deliveries without an acknowledgement an entry gets before
    /// it moves to the dead letters (default [`DEFAULT_MAX_DELIVERIES`](crate::DEFAULT_MAX_DELIVERIES)).
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
        Ok(JoinableQueue::from_queue(Queue {
            core: Arc::new(Core::open(self.settings, self.maxsize, true)?),
            _items: PhantomData,
        }))
    }
}

pub(crate) struct Keys {
    pub(crate) stream: String,
    pub(crate) dead: String,
    pub(crate) unfinished: String,
}

/// One open handle of a queue (shared by its clones).
pub(crate) struct Core {
    pub(crate) settings: Settings,
    pub(crate) maxsize: usize,
    pub(crate) joinable: bool,
    pub(crate) keys: Keys,
    consumer: Consumer,
    pub(crate) links: Links,
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

    pub(crate) fn check_open(&self) -> Result<()> {
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

    pub(crate) fn put(
        &self,
        data: &[u8],
        deadline: Option<Instant>,
        count_task: bool,
    ) -> Result<()> {
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

    pub(crate) fn claims(&self) -> &Claims {
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

    pub(crate) fn unfinished(&self) -> Result<usize> {
        let n: Option<i64> = self
            .links
            .with(|l| l.query(redis::cmd("GET").arg(&self.keys.unfinished)))?;
        Ok(n.unwrap_or(0).max(0) as usize)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(entry: &Entry) -> Result<T> {
    let data = entry
        .field("d")
        .ok_or_else(|| Error::Decode(format!("entry {} has no data field", entry.id)))?;
    postcard::from_bytes(data).map_err(|e| Error::Decode(e.to_string()))
}

pub(crate) fn encode<T: Serialize>(item: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(item).map_err(|e| Error::Encode(e.to_string()))
}

pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
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
#[doc = concat!("use ", crate::mp_crate!(redis), "::Queue;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(redis), "::Error> {")]
/// let q: Queue<u32> = Queue::open("redis://127.0.0.1/", "squares")?;
/// q.put(&4)?;
/// assert_eq!(q.get()?, 4);
/// # Ok(())
/// # }
/// ```
pub struct Queue<T> {
    pub(crate) core: Arc<Core>,
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
