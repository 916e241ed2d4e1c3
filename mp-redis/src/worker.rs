//! Pool workers: [`serve`] (a worker on any host, in the user's own
//! binary) and the local workers a [`Pool`](crate::Pool) starts itself.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use mp_process::CallError;
use redis::Script;
use serde::{Deserialize, Serialize};

use crate::claims::Claims;
use crate::error::{Error, Result};
use crate::fingerprint::build_fingerprint;
use crate::link::{self, Backoff, Link};
use crate::registry;
use crate::settings::{Settings, consumer_name};
use crate::stream::{Consumer, Entry};
use crate::task::{DEFAULT_POOL_NAME, Outcome, PoolKeys, TaskEntry, WORKERS};

/// How long a result stream lives without its caller refreshing it.
pub(crate) const RESULT_TTL: Duration = Duration::from_secs(30);

/// Results are posted at least this often while a batch runs.
const FLUSH_EVERY: Duration = Duration::from_millis(2);

/// The most tasks a worker takes at once (when they are quick).
const MAX_PREFETCH: usize = 64;

/// Posts results and settles their tasks: a result goes to its caller's
/// stream only if the caller is still alive.
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
for i = 3, #ARGV, 5 do
  local id, reply, alive = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('EXISTS', alive) == 1 then
    redis.call('XADD', reply, '*', 't', ARGV[i + 3], 'o', ARGV[i + 4])
    redis.call('PEXPIRE', reply, ARGV[2])
  end
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
end
return 1
"#,
    )
});

/// A worker of a pool, on any host: runs tasks of the pool `name` until
/// the process is killed.
///
/// ```no_run
/// fn square(x: u64) -> u64 {
///     x * x
/// }
#[doc = concat!(crate::mp_crate!(redis), "::register!(square);")]
///
#[doc = concat!("fn main() -> Result<(), ", crate::mp_crate!(redis), "::Error> {")]
///     // On every worker host, the same build of the program:
#[doc = concat!("    ", crate::mp_crate!(redis), "::Worker::new(\"redis://10.0.0.1/\").name(\"jobs\").serve()")]
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Worker {
    settings: Settings,
    consumer: Option<String>,
    local: bool,
}

/// Runs a worker of the default pool on the Redis at `url` until the
/// process is killed (see [`Worker`]).
pub fn serve(url: &str) -> Result<()> {
    Worker::new(url).serve()
}

impl Worker {
    /// A worker for the pool [`DEFAULT_POOL_NAME`] on the Redis at `url`.
    pub fn new(url: &str) -> Worker {
        Worker {
            settings: Settings::new(url, DEFAULT_POOL_NAME),
            consumer: None,
            local: false,
        }
    }

    /// Serves the pool `name` (the prefix of its keys) instead.
    pub fn name(mut self, name: &str) -> Worker {
        self.settings.name = name.to_owned();
        self
    }

    /// The visibility timeout of the pool (see
    /// [`PoolBuilder::visibility_timeout`](crate::PoolBuilder::visibility_timeout));
    /// every worker and caller of a pool should use the same.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Worker {
        self.settings.visibility = timeout;
        self
    }

    /// See [`PoolBuilder::max_deliveries`](crate::PoolBuilder::max_deliveries).
    pub fn max_deliveries(mut self, n: u32) -> Worker {
        self.settings.max_deliveries = n;
        self
    }

    /// How long to wait for a connection to Redis (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Worker {
        self.settings.timeouts.connect = timeout;
        self
    }

    /// Runs tasks until the process is killed. Redis outages are waited
    /// out (reconnecting with backoff); it returns only an error in the
    /// settings or the URL.
    pub fn serve(self) -> Result<()> {
        let link = self.settings.link()?;
        Runner::new(self, link).run();
        Ok(())
    }

    /// Trusts `pem` (a PEM root certificate) for a `rediss://` URL instead
    /// of the system's roots (needs the `tls` feature).
    pub fn tls_root_cert(mut self, pem: &[u8]) -> Worker {
        self.settings.tls_root = Some(pem.to_vec());
        self
    }
}

/// A local worker's settings, as they travel to the child process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WorkerSpec {
    pub(crate) settings: Settings,
    pub(crate) consumer: String,
}

/// The body of a local worker process.
pub(crate) fn local_worker_main(spec: WorkerSpec) {
    let worker = Worker {
        settings: spec.settings,
        consumer: Some(spec.consumer),
        local: true,
    };
    if let Err(e) = worker.serve() {
        eprintln!("mp-redis worker: {e}");
        std::process::exit(70);
    }
}

/// A finished task waiting to be posted.
struct Finished {
    entry: String,
    reply: String,
    alive: String,
    task: String,
    outcome: Vec<u8>,
}

struct Runner {
    worker: Worker,
    link: Link,
    consumer: Consumer,
    claims: Claims,
    cursor: String,
    prefetch: usize,
}

impl Runner {
    fn new(worker: Worker, link: Link) -> Runner {
        let s = &worker.settings;
        let keys = PoolKeys::new(&s.name);
        let consumer = Consumer {
            stream: keys.tasks,
            dead: keys.dead,
            group: WORKERS.into(),
            name: worker
                .consumer
                .clone()
                .unwrap_or_else(|| consumer_name("w")),
            visibility: s.visibility,
            max_deliveries: s.max_deliveries,
        };
        let claims = Claims::start(link.duplicate(), consumer.clone(), s.heartbeat());
        Runner {
            worker,
            link,
            consumer,
            claims,
            cursor: "0-0".into(),
            prefetch: 1,
        }
    }

    fn parent_gone(&self) -> bool {
        self.worker.local && mp_process::parent_process().is_some_and(|p| !p.is_alive())
    }

    fn run(&mut self) {
        let mut backoff = Backoff::new();
        loop {
            if self.parent_gone() {
                return;
            }
            match self.fetch() {
                Ok(entries) => {
                    backoff.reset();
                    self.work(entries);
                }
                Err(_) => std::thread::sleep(backoff.next_pause()),
            }
        }
    }

    /// Reclaimed and new tasks, waiting a slice in Redis if there are none.
    fn fetch(&mut self) -> Result<Vec<Entry>> {
        let taken = self
            .consumer
            .take(&mut self.link, &mut self.cursor, self.prefetch, false)?;
        if !taken.entries.is_empty() {
            return Ok(taken.entries);
        }
        self.consumer.read_blocking(
            &mut self.link,
            self.prefetch,
            self.worker.settings.slice(),
            None,
        )
    }

    fn work(&mut self, entries: Vec<Entry>) {
        for e in &entries {
            self.claims.hold(&e.id);
        }
        let started = Instant::now();
        let mut finished = Vec::with_capacity(entries.len());
        let mut last_flush = Instant::now();
        let mut wakes = Vec::new();
        for entry in &entries {
            let Some(task) = TaskEntry::parse(entry) else {
                // A wake-up (or junk): settle it, and rescan for
                // reclaimable tasks from the start.
                wakes.push(entry.id.as_str());
                self.cursor = "0-0".into();
                continue;
            };
            let outcome = run_task(&task);
            finished.push(Finished {
                entry: entry.id.clone(),
                reply: task.reply.to_owned(),
                alive: task.alive.to_owned(),
                task: task.task.to_owned(),
                outcome: postcard::to_allocvec(&outcome).unwrap_or_else(|e| {
                    postcard::to_allocvec(&Outcome::Failed(Error::Encode(e.to_string())))
                        .expect("an error encodes")
                }),
            });
            if last_flush.elapsed() >= FLUSH_EVERY {
                self.flush(&mut finished);
                last_flush = Instant::now();
            }
        }
        self.flush(&mut finished);
        if !wakes.is_empty() {
            let _ = self.consumer.remove(&mut self.link, &wakes);
        }
        for e in &entries {
            self.claims.release(&e.id);
        }
        // Quick tasks: take more at once; slow ones: one at a time, so
        // that idle workers get the rest.
        let per_task = started.elapsed() / entries.len().max(1) as u32;
        self.prefetch = if per_task < Duration::from_micros(500) {
            (self.prefetch * 2).min(MAX_PREFETCH)
        } else {
            1
        };
    }

    /// Posts finished results. If Redis is unreachable they are dropped:
    /// their tasks stay pending and run again elsewhere after the
    /// visibility timeout (at-least-once; the caller sees one result).
    fn flush(&mut self, finished: &mut Vec<Finished>) {
        if finished.is_empty() {
            return;
        }
        let mut inv = FINISH.prepare_invoke();
        inv.key(&self.consumer.stream)
            .arg(WORKERS)
            .arg(RESULT_TTL.as_millis() as u64);
        for f in finished.iter() {
            inv.arg(&f.entry)
                .arg(&f.reply)
                .arg(&f.alive)
                .arg(&f.task)
                .arg(&f.outcome);
        }
        let _ = self.link.script::<i64>(&inv);
        finished.clear();
    }
}

/// Runs one task of this build; any refusal is the task's error.
fn run_task(task: &TaskEntry<'_>) -> Outcome {
    let ours = build_fingerprint();
    if task.build != ours {
        return Outcome::Failed(Error::WrongBuild {
            caller: task.build.to_owned(),
            worker: ours.to_owned(),
        });
    }
    let Some(function) = registry::lookup(task.function) else {
        return Outcome::Failed(Error::NotRegistered(task.function.to_owned()));
    };
    let _ = task.items;
    match function.call(task.args) {
        Ok(bytes) => Outcome::Done(bytes),
        Err(CallError::Decode(why)) => Outcome::Failed(Error::Decode(why)),
        Err(CallError::Encode(why)) => Outcome::Failed(Error::Encode(why)),
    }
}
