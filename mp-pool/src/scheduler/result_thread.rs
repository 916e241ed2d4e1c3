//! The result thread: takes reports off the pool's one result queue,
//! routes each chunk's results to its job, settles the chunks of workers
//! that died, and hands out more chunks.

use std::cell::Cell;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use mp_process::CallError;

use super::{Phase, Scheduler, TICK, keep_running};
use crate::error::Error;
use crate::wire::{self, Report, WireBytes};

thread_local! {
    static RESULT_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is a pool's result thread (where callbacks run).
pub(crate) fn on_result_thread() -> bool {
    RESULT_THREAD.with(Cell::get)
}

/// Runs `f` (a job's callbacks, on a thread pool's worker) as the result
/// thread would: a blocking pool call from it fails rather than waits.
pub(crate) fn as_result_thread<T>(f: impl FnOnce() -> T) -> T {
    let was = RESULT_THREAD.with(|t| t.replace(true));
    let out = f();
    RESULT_THREAD.with(|t| t.set(was));
    out
}

/// The thread's body.
pub(super) fn run(scheduler: Arc<Scheduler>) {
    RESULT_THREAD.with(|t| t.set(true));
    keep_running(&scheduler, "result", route_results);
    scheduler.lock().result_thread_done = true;
    scheduler.wake_supervisor();
}

/// Takes reports off the result queue until the pool is shut down and
/// every worker has ended (while no caller does it, see `routing`).
fn route_results(scheduler: &Scheduler) {
    while scheduler.wait_for_duty() {
        // Reads no clock when a report is already there.
        match scheduler.results.get_timeout(TICK) {
            Ok(report) => scheduler.route(report),
            Err(mp_queue::Error::Empty) => scheduler.park_if_idle(),
            // A message was lost with a worker that died putting it (its
            // death will be reported).
            Err(mp_queue::Error::Torn | mp_queue::Error::Decode(_)) => {}
            Err(e) => {
                eprintln!("mp-pool: the result queue failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Scheduler {
    /// Routes one report (on the result thread or a routing caller).
    pub(super) fn route(&self, report: Report) {
        match report {
            Report::Done {
                worker,
                chunk,
                busy_ns,
                output,
            } => self.on_done(worker, chunk, busy_ns, output),
            Report::Died { worker, exitcode } => self.on_died(worker, exitcode),
            Report::InitFailed { message, .. } => self.stop(Error::Initializer(message)),
            Report::Wake => {}
        }
    }

    fn on_done(&self, worker: u64, chunk: u64, busy_ns: u64, output: Result<WireBytes, CallError>) {
        let mut state = self.lock();
        state.reports += 1;
        let now = state.reports;
        if let Some(w) = state.workers.iter_mut().find(|w| w.id == worker) {
            w.last_report = now;
            if let Some(pos) = w.held.iter().position(|&(c, _)| c == chunk) {
                let (_, bytes) = w.held.remove(pos).expect("found above");
                w.held_bytes -= bytes;
            }
        }
        if busy_ns > 0 {
            state.chunk_ns = (state.chunk_ns * 7 + busy_ns) / 8;
        }
        let finished = state.chunks.remove(&chunk);
        self.hand_out(state);
        if let Some(c) = finished {
            let outcome = output.map(WireBytes::into_vec).map_err(wire::chunk_error);
            self.deliver(c, outcome);
        }
    }

    fn on_died(&self, worker: u64, exitcode: i32) {
        let mut state = self.lock();
        let Some(pos) = state.workers.iter().position(|w| w.id == worker) else {
            return;
        };
        let w = state.workers.remove(pos);
        let running = w.running.load();
        let mut lost = None;
        for &(id, _) in w.held.iter().rev() {
            if id == running {
                lost = state.chunks.remove(&id);
            } else if state.chunks.contains_key(&id) {
                state.pending.push_front(id);
            }
        }
        if state.cursor > pos {
            state.cursor -= 1;
        }
        self.hand_out(state);
        // The worker was reaped when the supervisor saw it end.
        if let Some(used) = w.process.rusage() {
            *self.used.lock().unwrap_or_else(PoisonError::into_inner) += used;
        }
        drop(w);
        self.wake_supervisor();
        if lost.is_some() {
            log::warn!(
                target: "mp::pool",
                "worker PoolWorker-{worker} was lost (exitcode {exitcode}) while running a task"
            );
        } else {
            log::debug!(target: "mp::pool", "worker PoolWorker-{worker} ended (exitcode {exitcode})");
        }
        if let Some(c) = lost {
            self.deliver(c, Err(Error::WorkerLost { exitcode }));
        }
    }

    /// Whether the result thread's work is over: the pool is shut down and
    /// every worker has ended.
    pub(super) fn result_thread_may_end(&self) -> bool {
        let state = self.lock();
        match &state.phase {
            Phase::Running => false,
            Phase::Closed => {
                state.workers.is_empty() && state.starting == 0 && state.chunks.is_empty()
            }
            Phase::Stopped(_) => state.workers.is_empty() && state.starting == 0,
        }
    }
}
