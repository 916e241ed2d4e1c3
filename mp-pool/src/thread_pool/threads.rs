//! The threads of a [`ThreadPool`](crate::ThreadPool): one task queue, the
//! workers that take from it, and close, terminate and join.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::result::Stop;

/// One chunk of a job, ready to run on a worker.
pub(crate) type Task = Box<dyn FnOnce() + Send>;

/// What runs once on every worker thread before its first task.
pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

/// A job as `terminate` sees it: its unfinished tasks fail with the reason.
pub(crate) trait Job: Send + Sync {
    /// Fails what the job has not finished; a no-op once it has.
    fn fail(&self, reason: &Error);
}

thread_local! {
    /// The pool this thread works for (its `Threads`' address), 0 if none.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

#[derive(Clone, PartialEq)]
enum Phase {
    Running,
    Closed,
    Stopped(Error),
}

struct State {
    phase: Phase,
    queue: VecDeque<Task>,
    /// The jobs that may still have unfinished tasks (dead ones are
    /// pruned as the list grows).
    jobs: Vec<Weak<dyn Job>>,
    prune_at: usize,
    /// Workers that have not exited yet.
    live: usize,
    handles: Vec<JoinHandle<()>>,
}

/// The shared heart of a thread pool.
pub(crate) struct Threads {
    state: Mutex<State>,
    /// Signalled when a task is queued or the phase changes.
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
    pub(crate) count: usize,
}

impl Threads {
    /// Starts `count` workers, each running `init` first.
    pub(crate) fn start(count: usize, init: Option<Initializer>) -> Result<Arc<Threads>> {
        let threads = Arc::new(Threads {
            state: Mutex::new(State {
                phase: Phase::Running,
                queue: VecDeque::new(),
                jobs: Vec::new(),
                prune_at: 64,
                live: 0,
                handles: Vec::with_capacity(count),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            count,
        });
        for i in 0..count {
            let (me, init) = (threads.clone(), init.clone());
            // Counted before it runs: it uncounts itself when it exits.
            threads.lock().live += 1;
            let spawned = std::thread::Builder::new()
                .name(format!("ThreadPoolWorker-{i}"))
                .spawn(move || work(&me, init));
            match spawned {
                Ok(handle) => threads.lock().handles.push(handle),
                Err(e) => {
                    threads.lock().live -= 1;
                    let error = Error::Start(format!("cannot start a thread: {e}"));
                    threads.stop(error.clone());
                    return Err(error);
                }
            }
        }
        Ok(threads)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the tasks of `job` (all or none): [`Error::Closed`] after
    /// `close`, the reason after `terminate`.
    pub(crate) fn submit(&self, job: Weak<dyn Job>, tasks: Vec<Task>) -> Result<()> {
        let mut state = self.lock();
        match &state.phase {
            Phase::Running => {}
            Phase::Closed => return Err(Error::Closed),
            Phase::Stopped(reason) => return Err(reason.clone()),
        }
        if state.jobs.len() >= state.prune_at {
            state.jobs.retain(|job| job.strong_count() > 0);
            state.prune_at = (2 * state.jobs.len()).max(64);
        }
        state.jobs.push(job);
        let n = tasks.len();
        state.queue.extend(tasks);
        drop(state);
        if n == 1 {
            self.work.notify_one();
        } else {
            self.work.notify_all();
        }
        Ok(())
    }

    /// Queues more tasks of a job already submitted.
    pub(crate) fn submit_more(&self, task: Task) -> Result<()> {
        let mut state = self.lock();
        match &state.phase {
            Phase::Running => {}
            Phase::Closed => return Err(Error::Closed),
            Phase::Stopped(reason) => return Err(reason.clone()),
        }
        state.queue.push_back(task);
        drop(state);
        self.work.notify_one();
        Ok(())
    }

    /// Errors for a call that would submit work now.
    pub(crate) fn check_open(&self) -> Result<()> {
        match &self.lock().phase {
            Phase::Running => Ok(()),
            Phase::Closed => Err(Error::Closed),
            Phase::Stopped(reason) => Err(reason.clone()),
        }
    }

    /// Python's `close()`: no new tasks; workers exit once the queue is empty.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        if state.phase == Phase::Running {
            state.phase = Phase::Closed;
        }
        drop(state);
        self.work.notify_all();
    }

    /// Whether neither `close` nor `terminate` was called.
    pub(crate) fn is_running(&self) -> bool {
        self.lock().phase == Phase::Running
    }

    /// Whether this thread is one of this pool's workers.
    pub(crate) fn on_worker(&self) -> bool {
        WORKER_OF.with(Cell::get) == std::ptr::from_ref(self) as usize
    }

    /// Waits until every worker has exited (by `deadline`).
    pub(crate) fn join(&self, deadline: Option<Instant>) -> Result<()> {
        let mut state = self.lock();
        while state.live > 0 {
            state = match deadline {
                None => self
                    .exited
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    self.exited
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        for handle in handles {
            // A worker catches the panics of its tasks: it cannot panic.
            let _ = handle.join();
        }
        Ok(())
    }
}

impl Stop for Threads {
    /// Python's `terminate()` (and what Ctrl-C and a failed initializer
    /// do): drops the queued tasks and fails every unfinished job with
    /// `reason`. A task already running runs to its end (a thread cannot be
    /// killed), and its value is dropped.
    fn stop(&self, reason: Error) {
        let mut state = self.lock();
        if matches!(state.phase, Phase::Stopped(_)) {
            return;
        }
        state.phase = Phase::Stopped(reason.clone());
        let queued = std::mem::take(&mut state.queue);
        // Held before the queued tasks go: a job only they hold must fail
        // too.
        let jobs: Vec<Arc<dyn Job>> = state.jobs.drain(..).filter_map(|j| j.upgrade()).collect();
        drop(state);
        self.work.notify_all();
        drop(queued);
        for job in jobs {
            job.fail(&reason);
        }
    }
}

/// A worker's body: the initializer, then tasks until the pool closes
/// (and the queue is empty) or stops.
fn work(threads: &Arc<Threads>, init: Option<Initializer>) {
    WORKER_OF.with(|w| w.set(Arc::as_ptr(threads) as usize));
    if let Some(init) = init {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| init())) {
            threads.stop(Error::Initializer(mp_internal::panic_message(&*payload)));
        }
    }
    while let Some(task) = next_task(threads) {
        // Tasks catch their own panics; this keeps the worker counted
        // right should one slip through.
        let _ = catch_unwind(AssertUnwindSafe(task));
    }
    threads.lock().live -= 1;
    threads.exited.notify_all();
}

fn next_task(threads: &Threads) -> Option<Task> {
    let mut state = threads.lock();
    loop {
        if matches!(state.phase, Phase::Stopped(_)) {
            return None;
        }
        if let Some(task) = state.queue.pop_front() {
            return Some(task);
        }
        if state.phase == Phase::Closed {
            return None;
        }
        state = threads
            .work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
}
