//! A pool's caller side: submitting tasks, the result thread that routes
//! each task's result exactly once, and the local workers it supervises.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use parking_lot::{Condvar, Mutex};
use redis::Value;

use crate::error::{Error, Result};
use crate::fingerprint::build_fingerprint;
use crate::link::{self, Backoff, Link, Links};
use crate::result::{Route, Sink};
use crate::settings::{Settings, consumer_name};
use crate::stream;
use crate::task::{PoolKeys, WORKERS, parse_result};
use crate::worker::{RESULT_TTL, WorkerSpec, local_worker_main};

/// How long the result thread waits in Redis per read: also how soon it
/// notices a dead local worker or a terminated pool.
const RESULT_SLICE: Duration = Duration::from_millis(50);

/// How long the result thread stays off the results while callers blocked
/// in a `get` read them (and, after the last one, how long it reads in
/// short slices, so that the next `get` soon reads again).
const CALLERS_READ: Duration = Duration::from_millis(2);

/// Results read and routed are deleted from the stream in batches of this
/// many (by a caller) or at the result thread's next round.
const SETTLE_BATCH: usize = 256;

/// How often the caller says it is alive.
const ALIVE_EVERY: Duration = Duration::from_secs(2);

/// The most task entries sent in one pipeline.
const SUBMIT_BATCH: usize = 512;

/// A task submitted and not yet answered.
struct Pending {
    sink: Arc<dyn Sink>,
    index: usize,
    start: usize,
    n: usize,
    function: &'static str,
    args: Arc<Vec<u8>>,
    entry: String,
}

/// A chunk to submit: the job's sink, its index in the job, its first
/// item's index, its item count and its encoded arguments.
pub(crate) struct Chunk {
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) index: usize,
    pub(crate) start: usize,
    pub(crate) n: usize,
    pub(crate) args: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Running,
    Closed,
    Terminated,
}

struct State {
    run: Run,
    next_seq: u64,
    outstanding: HashMap<u64, Pending>,
}

/// The one reader of this caller's results stream at a time: the result
/// thread, or a caller blocked in a `get`.
struct Reader {
    /// The id of the last result read.
    last: String,
    /// Results read and routed, not yet deleted from the stream.
    unsettled: Vec<String>,
}

struct LocalWorker {
    process: Process,
    consumer: String,
}

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    keys: PoolKeys,
    results: String,
    alive: String,
    links: Links,
    state: Mutex<State>,
    /// Notified when `outstanding` empties or the state changes.
    changed: Condvar,
    workers: Mutex<Vec<LocalWorker>>,
    reader: Mutex<Reader>,
    /// Callers blocked in a `get`: while there are any, they read the
    /// results, not the result thread.
    waiting: AtomicUsize,
    processes: usize,
    method: Option<StartMethod>,
    stop: AtomicBool,
    /// Results seen twice (a task run again after a worker was lost, or a
    /// duplicate delivery), dropped.
    duplicates: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn start(
        settings: Settings,
        processes: usize,
        method: Option<StartMethod>,
    ) -> Result<(Arc<Shared>, JoinHandle<()>)> {
        let link = settings.link()?;
        let caller = format!("{:016x}", crate::random_u64());
        let shared = Arc::new(Shared {
            keys: PoolKeys::new(&settings.name),
            results: PoolKeys::results(&settings.name, &caller),
            alive: PoolKeys::alive(&settings.name, &caller),
            links: Links::new(link),
            state: Mutex::new(State {
                run: Run::Running,
                next_seq: 0,
                outstanding: HashMap::new(),
            }),
            changed: Condvar::new(),
            workers: Mutex::new(Vec::new()),
            reader: Mutex::new(Reader {
                last: "0-0".to_string(),
                unsettled: Vec::new(),
            }),
            waiting: AtomicUsize::new(0),
            processes,
            method,
            stop: AtomicBool::new(false),
            duplicates: Default::default(),
            settings,
        });
        shared.links.with(|l| {
            link::ensure_group(l, &shared.keys.tasks, WORKERS)?;
            shared.say_alive(l)
        })?;
        for _ in 0..processes {
            shared.start_worker()?;
        }
        let thread_shared = shared.clone();
        let mut link = shared.links.fresh();
        let thread = std::thread::Builder::new()
            .name("mp-redis results".into())
            .spawn(move || thread_shared.result_loop(&mut link))
            .map_err(|e| Error::Start(e.to_string()))?;
        Ok((shared, thread))
    }

    fn say_alive(&self, link: &mut Link) -> Result<()> {
        let ttl = RESULT_TTL.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&self.alive)
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&self.results)
            .arg(ttl)
            .ignore();
        link.pipe::<()>(&pipe)
    }

    fn start_worker(&self) -> Result<()> {
        let consumer = consumer_name("local");
        let spec = WorkerSpec {
            settings: self.settings.clone(),
            consumer: consumer.clone(),
        };
        let mut process = Process::new(local_worker_main, (spec,)).daemon(true);
        if let Some(method) = self.method {
            process = process.start_method(method);
        }
        process.start().map_err(|e| Error::Start(e.to_string()))?;
        self.workers.lock().push(LocalWorker { process, consumer });
        Ok(())
    }

    /// The process ids of the local workers alive now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.workers
            .lock()
            .iter()
            .filter_map(|w| w.process.pid())
            .collect()
    }

    pub(crate) fn processes(&self) -> usize {
        self.processes
    }

    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        match self.state.lock().run {
            Run::Running => Ok(()),
            Run::Closed => Err(Error::Closed),
            Run::Terminated => Err(Error::Terminated),
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state.lock().run == Run::Running
    }

    /// An estimate of how many workers serve the pool (for the default
    /// chunksize).
    pub(crate) fn workers_hint(&self) -> usize {
        let consumers: Result<Value> = self
            .links
            .with(|l| l.query(redis::cmd("XINFO").arg("GROUPS").arg(&self.keys.tasks)));
        let mut remote = 0;
        if let Ok(Value::Array(groups)) = consumers {
            for group in groups {
                if let Value::Array(fields) = group {
                    let mut it = fields.into_iter();
                    let mut is_ours = false;
                    let mut count = 0;
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        let k = stream::bytes(k).unwrap_or_default();
                        if k == b"name" {
                            is_ours = stream::bytes(v).is_some_and(|n| n == WORKERS.as_bytes());
                        } else if k == b"consumers" {
                            count = stream::bytes(v)
                                .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
                                .unwrap_or(0);
                        }
                    }
                    if is_ours {
                        remote = count;
                    }
                }
            }
        }
        remote.max(self.processes).max(1)
    }

    /// Submits chunks as tasks; on an error, the chunks not yet sent are
    /// returned with it (those sent stay submitted).
    pub(crate) fn submit(&self, function: &'static str, chunks: Vec<Chunk>) -> Result<()> {
        let mut chunks = chunks.into_iter().peekable();
        while chunks.peek().is_some() {
            let batch: Vec<Chunk> = chunks.by_ref().take(SUBMIT_BATCH).collect();
            let mut seqs = Vec::with_capacity(batch.len());
            {
                let mut state = self.state.lock();
                match state.run {
                    Run::Running => {}
                    Run::Closed => return Err(Error::Closed),
                    Run::Terminated => return Err(Error::Terminated),
                }
                for chunk in batch {
                    let seq = state.next_seq;
                    state.next_seq += 1;
                    state.outstanding.insert(
                        seq,
                        Pending {
                            sink: chunk.sink,
                            index: chunk.index,
                            start: chunk.start,
                            n: chunk.n,
                            function,
                            args: Arc::new(chunk.args),
                            entry: String::new(),
                        },
                    );
                    seqs.push(seq);
                }
            }
            if let Err(e) = self.send(&seqs) {
                let mut state = self.state.lock();
                for seq in &seqs {
                    state.outstanding.remove(seq);
                }
                self.changed.notify_all();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Sends the task entries of pending `seqs` (again, after a Redis
    /// restart) and records their entry ids.
    fn send(&self, seqs: &[u64]) -> Result<()> {
        let fingerprint = build_fingerprint();
        let mut pipe = redis::pipe();
        let mut sent = Vec::with_capacity(seqs.len());
        {
            let state = self.state.lock();
            for &seq in seqs {
                let Some(p) = state.outstanding.get(&seq) else {
                    continue;
                };
                pipe.cmd("XADD")
                    .arg(&self.keys.tasks)
                    .arg("*")
                    .arg("t")
                    .arg(seq)
                    .arg("r")
                    .arg(&self.results)
                    .arg("a")
                    .arg(&self.alive)
                    .arg("f")
                    .arg(p.function)
                    .arg("b")
                    .arg(fingerprint)
                    .arg("n")
                    .arg(p.n)
                    .arg("x")
                    .arg(p.args.as_slice());
                sent.push(seq);
            }
        }
        let ids: Vec<String> = self.links.with(|l| l.pipe(&pipe))?;
        let mut state = self.state.lock();
        for (seq, id) in sent.into_iter().zip(ids) {
            if let Some(p) = state.outstanding.get_mut(&seq) {
                p.entry = id;
            }
        }
        Ok(())
    }

    // ----- the result thread -----------------------------------------------

    fn result_loop(self: Arc<Shared>, link: &mut Link) {
        let mut backoff = Backoff::new();
        let mut next_alive = Instant::now() + ALIVE_EVERY;
        let mut generation = 0;
        // After a reconnect: once caught up with the results, look for
        // tasks Redis lost and send them again.
        let mut reconcile = false;
        // Until then, callers read the results often: read in short slices
        // so that a new `get` soon takes over.
        let mut callers_until = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            self.supervise(link);
            if Instant::now() >= next_alive && self.say_alive(link).is_ok() {
                next_alive = Instant::now() + ALIVE_EVERY;
            }
            // A reconnect (by a read, or by saying alive while callers read).
            if link.generation() != generation {
                if generation != 0 {
                    reconcile = true;
                    let _ = link::ensure_group(link, &self.keys.tasks, WORKERS);
                    let _ = self.say_alive(link);
                }
                generation = link.generation();
            }
            // Taken only while no caller waits, and let go at once
            // otherwise: a guard held through the pause below (as a
            // `match` on `try_lock()` holds it to the end of the match)
            // kept blocked callers off the results for seconds.
            let idle = self.waiting.load(Ordering::Acquire) == 0;
            let reader = match idle.then(|| self.reader.try_lock()).flatten() {
                Some(reader) => reader,
                None => {
                    // Callers read the results; tasks Redis lost are sent
                    // again all the same (a result already posted for one
                    // is then seen twice, and dropped).
                    if reconcile && self.resend_lost(link).is_ok() {
                        reconcile = false;
                    }
                    callers_until = Instant::now() + RESULT_SLICE;
                    std::thread::sleep(CALLERS_READ);
                    continue;
                }
            };
            let slice = if Instant::now() < callers_until {
                CALLERS_READ
            } else {
                RESULT_SLICE
            };
            let mut reader = reader;
            let read = link
                .query_blocking::<Value>(&self.read_cmd(&reader.last, slice), slice, None)
                .and_then(stream::parse_read);
            let entries = match read {
                Ok(entries) => {
                    backoff.reset();
                    entries
                }
                Err(_) => {
                    drop(reader);
                    std::thread::sleep(backoff.next_pause());
                    continue;
                }
            };
            self.route_all(&mut reader, &entries);
            let settle = std::mem::take(&mut reader.unsettled);
            drop(reader);
            self.settle(link, &settle);
            // Once caught up with the results, look for lost tasks.
            if entries.is_empty() && reconcile && self.resend_lost(link).is_ok() {
                reconcile = false;
            }
        }
    }

    /// `XREAD` of the results after `last`, waiting up to `slice`.
    fn read_cmd(&self, last: &str, slice: Duration) -> redis::Cmd {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(4096)
            .arg("BLOCK")
            .arg(slice.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&self.results)
            .arg(last);
        cmd
    }

    /// Routes results read, and notes them for deletion.
    fn route_all(&self, reader: &mut Reader, entries: &[stream::Entry]) {
        let Some(newest) = entries.last() else {
            return;
        };
        reader.last = newest.id.clone();
        for entry in entries {
            if let Some((seq, outcome)) = parse_result(entry) {
                self.route(seq, outcome);
            }
        }
        reader
            .unsettled
            .extend(entries.iter().map(|e| e.id.clone()));
    }

    /// Deletes results that were routed (after routing: a waiting caller
    /// does not wait for this round trip).
    fn settle(&self, link: &mut Link, ids: &[String]) {
        if !ids.is_empty() {
            let _ = link.query::<i64>(redis::cmd("XDEL").arg(&self.results).arg(ids));
        }
    }

    /// Hands a task's outcome to its job, once.
    fn route(&self, seq: u64, outcome: Result<Vec<u8>>) {
        let pending = {
            let mut state = self.state.lock();
            let pending = state.outstanding.remove(&seq);
            if state.outstanding.is_empty() {
                self.changed.notify_all();
            }
            pending
        };
        match pending {
            Some(p) => p.sink.deliver(p.index, p.start, p.n, outcome),
            None => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends again the outstanding tasks whose entries Redis no longer has
    /// (it restarted without them); their results, if any came, were read.
    fn resend_lost(&self, link: &mut Link) -> Result<()> {
        let entries: Vec<(u64, String)> = {
            let state = self.state.lock();
            state
                .outstanding
                .iter()
                .map(|(seq, p)| (*seq, p.entry.clone()))
                .collect()
        };
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (_, id) in &entries {
            let id = if id.is_empty() { "0-1" } else { id.as_str() };
            pipe.cmd("XRANGE").arg(&self.keys.tasks).arg(id).arg(id);
        }
        let found: Vec<Value> = link.pipe(&pipe)?;
        let lost: Vec<u64> = entries
            .iter()
            .zip(found)
            .filter(|(_, v)| matches!(v, Value::Array(items) if items.is_empty()))
            .map(|((seq, _), _)| *seq)
            .collect();
        for batch in lost.chunks(SUBMIT_BATCH) {
            self.send(batch)?;
        }
        Ok(())
    }

    /// Replaces dead local workers, making their tasks claimable at once
    /// (instead of after the visibility timeout).
    fn supervise(&self, link: &mut Link) {
        let mut dead = Vec::new();
        {
            let mut workers = self.workers.lock();
            workers.retain(|w| {
                if w.process.is_alive() {
                    true
                } else {
                    dead.push(w.consumer.clone());
                    false
                }
            });
        }
        if dead.is_empty() {
            return;
        }
        for consumer in &dead {
            let _ = self.orphan(link, consumer);
        }
        if self.state.lock().run != Run::Terminated && !self.stop.load(Ordering::Acquire) {
            for _ in &dead {
                let _ = self.start_worker();
            }
        }
    }

    /// Gives a dead consumer's pending tasks an idle time past the
    /// visibility timeout, drops the consumer, and wakes a worker to take
    /// them.
    fn orphan(&self, link: &mut Link, consumer: &str) -> Result<()> {
        let pending: Value = link.query(
            redis::cmd("XPENDING")
                .arg(&self.keys.tasks)
                .arg(WORKERS)
                .arg("-")
                .arg("+")
                .arg(10_000)
                .arg(consumer),
        )?;
        let mut ids = Vec::new();
        if let Value::Array(items) = pending {
            for item in items {
                if let Value::Array(fields) = item
                    && let Some(id) = fields.into_iter().next().and_then(stream::bytes)
                {
                    ids.push(String::from_utf8_lossy(&id).into_owned());
                }
            }
        }
        if !ids.is_empty() {
            let idle = self.settings.visibility.as_millis() as u64 * 10;
            let mut cmd = redis::cmd("XCLAIM");
            cmd.arg(&self.keys.tasks)
                .arg(WORKERS)
                .arg(format!("{consumer}:orphans"))
                .arg(0)
                .arg(&ids)
                .arg("IDLE")
                .arg(idle)
                .arg("JUSTID");
            link.query::<Value>(&cmd)?;
            link.query::<Value>(
                redis::cmd("XADD")
                    .arg(&self.keys.tasks)
                    .arg("*")
                    .arg("k")
                    .arg("wake"),
            )?;
        }
        link.query::<Value>(
            redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&self.keys.tasks)
                .arg(WORKERS)
                .arg(consumer),
        )?;
        Ok(())
    }

    // ----- lifetime --------------------------------------------------------

    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        if state.run == Run::Running {
            state.run = Run::Closed;
        }
        self.changed.notify_all();
    }

    /// Fails every unfinished task with `Terminated`, withdraws their
    /// entries, and kills the local workers.
    pub(crate) fn terminate(&self) {
        let pending: Vec<Pending> = {
            let mut state = self.state.lock();
            state.run = Run::Terminated;
            self.changed.notify_all();
            state.outstanding.drain().map(|(_, p)| p).collect()
        };
        let ids: Vec<&str> = pending
            .iter()
            .filter(|p| !p.entry.is_empty())
            .map(|p| p.entry.as_str())
            .collect();
        for batch in ids.chunks(SUBMIT_BATCH) {
            let _ = self
                .links
                .with(|l| l.query::<i64>(redis::cmd("XDEL").arg(&self.keys.tasks).arg(batch)));
        }
        for p in pending {
            p.sink
                .deliver(p.index, p.start, p.n, Err(Error::Terminated));
        }
        for w in self.workers.lock().iter() {
            let _ = w.process.kill();
        }
    }

    /// Waits until no task is outstanding (after `close`), then stops the
    /// local workers and the result thread.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> Result<()> {
        {
            let mut state = self.state.lock();
            if state.run == Run::Running {
                return Err(Error::StillRunning);
            }
            while !state.outstanding.is_empty() {
                match deadline {
                    None => self.changed.wait(&mut state),
                    Some(d) => {
                        if self.changed.wait_until(&mut state, d).timed_out()
                            && !state.outstanding.is_empty()
                        {
                            return Err(Error::Timeout);
                        }
                    }
                }
            }
        }
        self.stop.store(true, Ordering::Release);
        let workers: Vec<LocalWorker> = std::mem::take(&mut *self.workers.lock());
        for w in &workers {
            let _ = w.process.terminate();
        }
        for w in &workers {
            let left = deadline.map_or(Duration::from_secs(10), |d| {
                d.saturating_duration_since(Instant::now())
            });
            match w.process.join_timeout(left) {
                Ok(Some(_)) => {}
                _ => {
                    let _ = w.process.kill();
                    let _ = w.process.join_timeout(Duration::from_secs(5));
                }
            }
        }
        let consumers: Vec<&str> = workers.iter().map(|w| w.consumer.as_str()).collect();
        self.links.with(|l| {
            for consumer in &consumers {
                let _ = self.orphan(l, consumer);
            }
            let _ = l.query::<i64>(redis::cmd("DEL").arg(&self.results).arg(&self.alive));
        });
        Ok(())
    }

    /// Deletes every key of the pool name (its task stream, group and dead
    /// letters, and this caller's keys).
    pub(crate) fn delete_keys(&self) -> Result<()> {
        self.links.with(|l| {
            l.query::<i64>(
                redis::cmd("DEL")
                    .arg(&self.keys.tasks)
                    .arg(&self.keys.dead)
                    .arg(&self.results)
                    .arg(&self.alive),
            )
        })?;
        Ok(())
    }
}

impl Route for Shared {
    fn waiting(&self, yes: bool) {
        if yes {
            self.waiting.fetch_add(1, Ordering::AcqRel);
        } else {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn read_results(&self, until: Instant) -> bool {
        if self.stop.load(Ordering::Acquire) {
            return false;
        }
        let Some(mut reader) = self.reader.try_lock() else {
            return false;
        };
        let slice = until.saturating_duration_since(Instant::now());
        let cmd = self.read_cmd(&reader.last, slice);
        let read = self
            .links
            .with(|l| l.query_blocking::<Value>(&cmd, slice, None))
            .and_then(stream::parse_read);
        let Ok(entries) = read else {
            // Redis is away: the result thread reconnects and catches up.
            return false;
        };
        self.route_all(&mut reader, &entries);
        if reader.unsettled.len() >= SETTLE_BATCH {
            let settle = std::mem::take(&mut reader.unsettled);
            drop(reader);
            self.links.with(|l| self.settle(l, &settle));
        }
        true
    }
}
