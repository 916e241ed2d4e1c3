//! The scheduler: the pool's state in this process (its workers, the
//! chunks waiting for one, the chunks each holds) and how chunks are handed
//! out. Its two threads have a file each: [`result_thread`] and
//! [`supervisor`]; [`routing`] says who takes reports off the result
//! queue (the result thread, or a caller waiting for its result).
//!
//! - Chunks wait in `pending` until a worker has room; each worker has its
//!   own task queue and takes a bounded number of chunks at a time (enough
//!   queued work that it never idles, few enough that the others get
//!   their share), so the pool always knows which chunks a worker holds.
//! - The result thread takes reports off the one scheduler result queue,
//!   routes them to their jobs, and hands out more chunks; when the pool
//!   was idle, a caller that waits for its result does it instead (see
//!   [`routing`]).
//! - The supervisor thread waits on the workers' sentinels. When one ends
//!   it posts `Died` on the result queue, behind everything the worker put
//!   before dying; the result thread then fails the chunk the worker was
//!   running (its scheduler "running" slot says which) with `WorkerLost`,
//!   queues the chunks it had not started again, and the supervisor starts
//!   a replacement.
//!
//! Queue puts happen outside the state lock; a chunk is only given to a
//! worker whose queue has room for it (or that has nothing queued), so a
//! put never waits on a busy worker.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mp_process::{Process, ResourceUsage, StartMethod};
use mp_queue::{Queue, QueueBuilder};
use mp_shm::RawValue;

use crate::error::{Error, Result};
use crate::wire::{FnRef, Init, Report, TaskMsg, WireBytes};
use crate::worker::{self, WorkerSetup};

pub(crate) mod result_thread;
mod routing;
mod supervisor;

use routing::Routing;

/// Where a job's chunks report.
pub(crate) trait Sink: Send + Sync {
    /// Chunk `seq` of the job (items `start..start + n`) finished: its
    /// result frames, or why it failed as a whole.
    fn deliver(&self, seq: usize, start: usize, n: usize, outcome: Result<Vec<u8>>);

    /// Whether delivering may run user callbacks (which run on the result
    /// thread only).
    fn has_callbacks(&self) -> bool {
        false
    }
}

/// How much queued work a worker should hold, in time.
const QUEUED_WORK: Duration = Duration::from_millis(2);
/// Chunks a worker may hold: at least two (one running, one ready) ...
const MIN_HELD: usize = 2;
/// ... and at most this many.
const MAX_HELD: usize = 64;
/// How long a put of a chunk larger than half the ring may take before the
/// chunk is failed (plus 100 ms a MiB): it waits for the worker to take it.
const PUT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a put of a chunk that fits looks whether its worker still
/// lives, if it has to wait at all (see `put`).
const PUT_LIVENESS: Duration = Duration::from_secs(1);
/// How often the threads look at the state even if nothing happened.
const TICK: Duration = Duration::from_millis(500);

/// Settings fixed when the pool is built.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) processes: usize,
    pub(crate) maxtasks: Option<u64>,
    pub(crate) method: Option<StartMethod>,
    pub(crate) init: Option<Init>,
    pub(crate) ring_size: usize,
    pub(crate) result_ring_size: usize,
    pub(crate) window: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Running,
    Closed,
    /// Terminated, interrupted or broken: every call fails with this.
    Stopped(Error),
}

struct Chunk {
    sink: Arc<dyn Sink>,
    seq: usize,
    start: usize,
    n: usize,
    fref: Arc<FnRef>,
    args: Arc<Vec<u8>>,
}

struct Worker {
    id: u64,
    process: Process,
    sentinel: Arc<OwnedFd>,
    tasks: Queue<TaskMsg>,
    /// The chunk the worker is running (or ran last); 0 before the first.
    running: RawValue<u64>,
    /// Chunks given to the worker whose results have not come back, with
    /// their sizes.
    held: VecDeque<(u64, usize)>,
    held_bytes: usize,
    /// Chunks given to it in total (for `maxtasksperchild`).
    given: u64,
    /// When it last reported a chunk done (`State::reports` then).
    last_report: u64,
    /// Told to stop, or killed: gets no more chunks.
    stopping: bool,
    /// The supervisor saw it end and posted `Died`.
    ended: bool,
}

struct State {
    phase: Phase,
    next_chunk: u64,
    next_worker: u64,
    pending: VecDeque<u64>,
    chunks: HashMap<u64, Chunk>,
    workers: Vec<Worker>,
    /// Replacements the supervisor is starting.
    starting: usize,
    /// Average time a worker spends on a chunk (nanoseconds).
    chunk_ns: u64,
    cursor: usize,
    /// Chunks reported done so far.
    reports: u64,
    result_thread_done: bool,
}

/// One put to do after the state lock is released.
struct Put {
    worker: u64,
    queue: Queue<TaskMsg>,
    msg: TaskMsg,
    chunk: Option<u64>,
    bytes: usize,
}

pub(crate) struct Scheduler {
    me: Weak<Scheduler>,
    pub(crate) config: Config,
    state: Mutex<State>,
    results: Queue<Report>,
    routing: Routing,
    wake_rx: OwnedFd,
    wake_tx: OwnedFd,
    finished: Mutex<bool>,
    finished_changed: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// What the workers that have ended used, together.
    pub(crate) used: Mutex<ResourceUsage>,
}

impl Scheduler {
    /// Starts the workers and the two threads.
    pub(crate) fn start(config: Config) -> Result<Arc<Scheduler>> {
        let results = QueueBuilder::new()
            .ring_size(config.result_ring_size)
            .build()
            .map_err(|e| Error::Start(format!("the result queue: {e}")))?;
        let (wake_rx, wake_tx) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .map_err(|e| Error::Start(format!("a pipe: {e}")))?;
        let scheduler = Arc::new_cyclic(|me| Scheduler {
            me: me.clone(),
            config,
            state: Mutex::new(State {
                phase: Phase::Running,
                next_chunk: 1,
                next_worker: 1,
                pending: VecDeque::new(),
                chunks: HashMap::new(),
                workers: Vec::new(),
                starting: 0,
                chunk_ns: 1_000_000,
                cursor: 0,
                reports: 0,
                result_thread_done: false,
            }),
            results,
            routing: Routing::new(),
            wake_rx,
            wake_tx,
            finished: Mutex::new(false),
            finished_changed: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            used: Mutex::new(ResourceUsage::default()),
        });
        for _ in 0..scheduler.config.processes {
            match scheduler.start_worker() {
                Ok(worker) => scheduler.lock().workers.push(worker),
                Err(e) => {
                    for w in &scheduler.lock().workers {
                        let _ = w.process.kill();
                        let _ = w.process.join_timeout(Duration::from_secs(5));
                    }
                    return Err(e);
                }
            }
        }
        let spawn = |name: &str, body: fn(Arc<Scheduler>)| {
            let scheduler2 = scheduler.clone();
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || body(scheduler2))
                .map_err(|e| Error::Start(format!("a thread: {e}")))
        };
        let handles = [
            spawn("mp-pool results", result_thread::run),
            spawn("mp-pool supervisor", supervisor::run),
        ];
        let mut threads = Vec::new();
        for handle in handles {
            match handle {
                Ok(h) => threads.push(h),
                Err(e) => {
                    scheduler.stop(Error::Terminated);
                    return Err(e);
                }
            }
        }
        *scheduler
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = threads;
        Ok(scheduler)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_supervisor(&self) {
        let _ = rustix::io::write(&self.wake_tx, &[1]);
    }

    fn start_worker(&self) -> Result<Worker> {
        let id = {
            let mut state = self.lock();
            state.next_worker += 1;
            state.next_worker - 1
        };
        let fail = |what: &str, e: &dyn std::fmt::Display| Error::Start(format!("{what}: {e}"));
        let tasks: Queue<TaskMsg> = QueueBuilder::new()
            .ring_size(self.config.ring_size)
            .build()
            .map_err(|e| fail("a task queue", &e))?;
        let running = RawValue::new(0u64).map_err(|e| fail("a scheduler slot", &e))?;
        let setup = WorkerSetup {
            worker: id,
            tasks: tasks.clone(),
            results: self.results.clone(),
            running: running.clone(),
            init: self.config.init.clone(),
            maxtasks: self.config.maxtasks,
        };
        let mut process = Process::new(worker::worker_main, (setup,))
            .name(format!("PoolWorker-{id}"))
            .daemon(true);
        if let Some(method) = self.config.method {
            process = process.start_method(method);
        }
        process.start().map_err(|e| fail("a process", &e))?;
        log::debug!(
            target: "mp::pool",
            "added worker PoolWorker-{id} (pid {})",
            process.pid().unwrap_or(0)
        );
        let sentinel = process
            .sentinel()
            .and_then(|fd| Ok(fd.try_clone_to_owned()?))
            .map_err(|e| fail("a sentinel", &e));
        let sentinel = match sentinel {
            Ok(fd) => Arc::new(fd),
            Err(e) => {
                let _ = process.kill();
                return Err(e);
            }
        };
        Ok(Worker {
            id,
            process,
            sentinel,
            tasks,
            running,
            held: VecDeque::new(),
            held_bytes: 0,
            given: 0,
            last_report: 0,
            stopping: false,
            ended: false,
        })
    }

    // ----- submitting ----------------------------------------------------

    /// Whether new work is accepted.
    pub(crate) fn check_open(&self) -> Result<()> {
        match &self.lock().phase {
            Phase::Running => Ok(()),
            Phase::Closed => Err(Error::Closed),
            Phase::Stopped(e) => Err(e.clone()),
        }
    }

    /// Queues one chunk of a job.
    pub(crate) fn submit(
        &self,
        sink: Arc<dyn Sink>,
        seq: usize,
        start: usize,
        n: usize,
        fref: &Arc<FnRef>,
        args: Vec<u8>,
    ) -> Result<()> {
        let mut state = self.lock();
        match &state.phase {
            Phase::Running => {}
            Phase::Closed => return Err(Error::Closed),
            Phase::Stopped(e) => return Err(e.clone()),
        }
        let id = state.next_chunk;
        state.next_chunk += 1;
        state.chunks.insert(
            id,
            Chunk {
                sink,
                seq,
                start,
                n,
                fref: fref.clone(),
                args: Arc::new(args),
            },
        );
        state.pending.push_back(id);
        self.hand_out(state);
        Ok(())
    }

    /// What to do after the state changed: hands pending chunks to workers
    /// with room and, once a closed pool is done, tells its workers to
    /// stop; then releases the lock and does the puts.
    fn hand_out(&self, mut state: MutexGuard<'_, State>) {
        let mut sends = self.dispatch(&mut state);
        sends.extend(self.stop_if_done(&mut state));
        drop(state);
        self.send(sends);
    }

    /// Hands pending chunks to workers with room.
    fn dispatch(&self, state: &mut State) -> Vec<Put> {
        let mut sends = Vec::new();
        if state.workers.is_empty() {
            return sends;
        }
        let held_max = (QUEUED_WORK.as_nanos() as u64 / state.chunk_ns.max(1))
            .clamp(MIN_HELD as u64, MAX_HELD as u64) as usize;
        let room = self.config.ring_size / 2;
        while let Some(&id) = state.pending.front() {
            let Some(chunk) = state.chunks.get(&id) else {
                state.pending.pop_front();
                continue;
            };
            let bytes = chunk.args.len() + chunk.fref.entry.len() + chunk.fref.func.len() + 64;
            let n = state.workers.len();
            let maxtasks = self.config.maxtasks;
            let cursor = state.cursor;
            let open = |w: &Worker| !w.stopping && !w.ended && maxtasks.is_none_or(|k| w.given < k);
            // An idle worker that reported last is still spinning for its
            // next task (a sleeping one costs a wake-up): it goes first.
            // Otherwise, round robin over the workers with room.
            let warmest = (0..n)
                .filter(|&i| open(&state.workers[i]) && state.workers[i].held.is_empty())
                .max_by_key(|&i| state.workers[i].last_report);
            let chosen = warmest.or_else(|| {
                (0..n).map(|i| (cursor + i) % n).find(|&i| {
                    let w = &state.workers[i];
                    open(w) && w.held.len() < held_max && w.held_bytes + bytes <= room
                })
            });
            let Some(i) = chosen else {
                break;
            };
            state.pending.pop_front();
            state.cursor = i + 1;
            let w = &mut state.workers[i];
            w.held.push_back((id, bytes));
            w.held_bytes += bytes;
            w.given += 1;
            sends.push(Put {
                worker: w.id,
                queue: w.tasks.clone(),
                msg: TaskMsg::Run {
                    chunk: id,
                    entry: WireBytes::Shared(chunk.fref.entry.clone()),
                    func: WireBytes::Shared(chunk.fref.func.clone()),
                    args: WireBytes::Shared(chunk.args.clone()),
                },
                chunk: Some(id),
                bytes,
            });
        }
        sends
    }

    /// Tells every worker to stop once a closed pool has no work left.
    fn stop_if_done(&self, state: &mut State) -> Vec<Put> {
        let mut sends = Vec::new();
        if state.phase != Phase::Closed || !state.chunks.is_empty() {
            return sends;
        }
        // Every worker not yet told (also one started after the others were).
        for w in state.workers.iter_mut().filter(|w| !w.stopping) {
            w.stopping = true;
            sends.push(Put {
                worker: w.id,
                queue: w.tasks.clone(),
                msg: TaskMsg::Stop,
                chunk: None,
                bytes: 0,
            });
        }
        sends
    }

    /// Does the puts decided under the lock.
    fn send(&self, sends: Vec<Put>) {
        for put in sends {
            if put.bytes <= self.config.ring_size / 2 {
                // It fits: the put does not wait.
                self.put(put);
            } else {
                // A chunk larger than the ring streams through it while the
                // (idle) worker takes it. Not on this thread: if the worker
                // dies halfway, the put only ends with its timeout, and the
                // result thread must go on meanwhile.
                let (worker, chunk) = (put.worker, put.chunk);
                let me = self.me.clone();
                let spawned = std::thread::Builder::new()
                    .name("mp-pool large put".to_owned())
                    .spawn(move || {
                        if let Some(scheduler) = me.upgrade() {
                            scheduler.put(put);
                        }
                    });
                if let Err(e) = spawned {
                    let why = Error::Start(format!("a thread for a large chunk: {e}"));
                    self.not_handed(worker, chunk, why);
                }
            }
        }
    }

    /// Puts a message on a worker's task queue.
    ///
    /// One that fits (see `dispatch`) finds room at once and reads no clock.
    /// It can only wait behind the rest of an earlier chunk larger than the
    /// ring that the worker has not taken yet (it may still be running its
    /// initializer): then it waits as long as the worker lives and the pool
    /// runs, looking every [`PUT_LIVENESS`], so a slow worker loses nothing
    /// and a dead one blocks nobody. A larger message gets [`PUT_TIMEOUT`]
    /// to stream through, then its chunk fails.
    fn put(&self, put: Put) {
        let fits = put.bytes <= self.config.ring_size / 2;
        let timeout = if fits {
            PUT_LIVENESS
        } else {
            PUT_TIMEOUT + Duration::from_millis((put.bytes >> 20) as u64 * 100)
        };
        loop {
            let why = match put.queue.put_timeout(&put.msg, timeout) {
                Ok(()) => return,
                Err(mp_queue::Error::Encode(e)) => Error::Encode(format!("a task message: {e}")),
                Err(mp_queue::Error::Full) if fits && self.takes_tasks(put.worker) => {
                    continue;
                }
                Err(e) => Error::Start(format!("cannot hand the task to a worker: {e}")),
            };
            self.not_handed(put.worker, put.chunk, why);
            return;
        }
    }

    /// Whether `worker` may still take its tasks: the pool has not been
    /// stopped and the process lives. Asked of the process itself, not of
    /// the state: a death reaches the state through the supervisor and the
    /// result thread, either of which may be the one waiting in `put`.
    fn takes_tasks(&self, worker: u64) -> bool {
        let state = self.lock();
        !matches!(state.phase, Phase::Stopped(_))
            && state
                .workers
                .iter()
                .any(|w| w.id == worker && !w.ended && w.process.is_alive())
    }

    /// A message never reached `worker`. Its chunk fails with `why`, unless
    /// the worker died meanwhile and its death already settled it; a worker
    /// that missed its `Stop` is killed, or the pool would wait for it
    /// forever.
    fn not_handed(&self, worker: u64, chunk: Option<u64>, why: Error) {
        let mut state = self.lock();
        let Some(w) = state.workers.iter_mut().find(|w| w.id == worker) else {
            return;
        };
        let Some(id) = chunk else {
            let _ = w.process.kill();
            return;
        };
        let Some(pos) = w.held.iter().position(|&(c, _)| c == id) else {
            return;
        };
        let (_, bytes) = w.held.remove(pos).expect("found above");
        w.held_bytes -= bytes;
        // It never reached the worker: it does not count toward its tasks.
        w.given -= 1;
        let chunk = state.chunks.remove(&id);
        // The worker has room again, and a closed pool may now be done.
        self.hand_out(state);
        if let Some(c) = chunk {
            c.sink.deliver(c.seq, c.start, c.n, Err(why));
        }
    }

    // ----- shutting down -------------------------------------------------

    /// Python's `close()`: no new work; workers stop once all is done.
    pub(crate) fn close(&self) {
        log::debug!(target: "mp::pool", "closing pool");
        let mut state = self.lock();
        if state.phase == Phase::Running {
            state.phase = Phase::Closed;
        }
        self.hand_out(state);
        self.wake_supervisor();
        self.kick();
    }

    /// Python's `terminate()` (and what SIGINT and a failed initializer
    /// do): kills the workers and fails every unfinished chunk with `reason`.
    pub(crate) fn stop(&self, reason: Error) {
        let mut state = self.lock();
        if matches!(state.phase, Phase::Stopped(_)) {
            return;
        }
        match reason {
            Error::Terminated => log::debug!(target: "mp::pool", "terminating pool"),
            _ => log::info!(target: "mp::pool", "stopping pool: {reason}"),
        }
        state.phase = Phase::Stopped(reason.clone());
        state.pending.clear();
        let mut failed: Vec<(u64, Chunk)> = state.chunks.drain().collect();
        for w in &mut state.workers {
            w.stopping = true;
            w.held.clear();
            w.held_bytes = 0;
            let _ = w.process.kill();
        }
        drop(state);
        self.wake_supervisor();
        self.kick();
        let _ = self.results.try_put(&Report::Wake);
        failed.sort_by_key(|(id, _)| *id);
        for (_, c) in failed {
            c.sink.deliver(c.seq, c.start, c.n, Err(reason.clone()));
        }
    }

    /// Whether `close` or `stop` was called.
    pub(crate) fn is_running(&self) -> bool {
        self.lock().phase == Phase::Running
    }

    /// Waits until every worker has ended and the threads are done.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> Result<()> {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        while !*finished {
            let slice = match deadline {
                None => TICK,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    left.min(TICK)
                }
            };
            finished = self
                .finished_changed
                .wait_timeout(finished, slice)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(finished);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }

    /// The pids of the live workers.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.lock()
            .workers
            .iter()
            .filter(|w| !w.stopping && !w.ended)
            .filter_map(|w| w.process.pid())
            .collect()
    }
}

/// Runs `body` until it returns; a panic (a bug: user code that can panic
/// here is guarded where it runs) is printed and stops the pool, and `body`
/// runs again so that workers are still reaped and nothing waits forever.
fn keep_running(scheduler: &Scheduler, what: &str, body: impl Fn(&Scheduler)) {
    while let Err(payload) = catch_unwind(AssertUnwindSafe(|| body(scheduler))) {
        eprintln!(
            "mp-pool: the {what} thread panicked: {}",
            mp_internal::panic_message(&*payload)
        );
        scheduler.stop(Error::Terminated);
        std::thread::sleep(Duration::from_millis(50));
    }
}
