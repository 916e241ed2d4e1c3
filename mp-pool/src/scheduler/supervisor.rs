//! The supervisor thread: waits on the workers' sentinels, reports each
//! worker that ends (behind everything it put before), and starts
//! replacements.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use mp_pipe::Waitable;

use super::{Chunk, Phase, Scheduler, State, TICK, keep_running};
use crate::wire::Report;

/// The thread's body.
pub(super) fn run(scheduler: Arc<Scheduler>) {
    keep_running(&scheduler, "supervisor", supervise);
    *scheduler
        .finished
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = true;
    scheduler.finished_changed.notify_all();
}

/// Starts replacement workers and reports the workers that end, until the
/// result thread is done and every worker has ended.
fn supervise(scheduler: &Scheduler) {
    let mut retry_at: Option<Instant> = None;
    loop {
        // Replace workers that ended (after the result thread settled
        // their chunks).
        if retry_at.is_none_or(|t| Instant::now() >= t) {
            retry_at = None;
            let needed = {
                let mut state = scheduler.lock();
                let needed = scheduler.replacements_needed(&state);
                state.starting += needed;
                needed
            };
            for _ in 0..needed {
                let started = scheduler.start_worker();
                let mut state = scheduler.lock();
                state.starting -= 1;
                match started {
                    Ok(worker) => {
                        log::info!(
                            target: "mp::pool",
                            "replaced a worker that ended: PoolWorker-{} started",
                            worker.id
                        );
                        let stopped = matches!(state.phase, Phase::Stopped(_));
                        state.workers.push(worker);
                        if stopped {
                            let w = state.workers.last_mut().expect("just pushed");
                            w.stopping = true;
                            let _ = w.process.kill();
                        }
                        scheduler.hand_out(state);
                    }
                    Err(e) => {
                        // Try again later; if no worker is left, fail what
                        // is waiting rather than let it wait forever.
                        retry_at = Some(Instant::now() + Duration::from_secs(1));
                        let failed: Vec<Chunk> = if state.workers.is_empty() {
                            let ids: Vec<u64> = state.pending.drain(..).collect();
                            ids.iter()
                                .filter_map(|id| state.chunks.remove(id))
                                .collect()
                        } else {
                            Vec::new()
                        };
                        drop(state);
                        for c in failed {
                            c.sink.deliver(c.seq, c.start, c.n, Err(e.clone()));
                        }
                    }
                }
            }
        }
        let (ids, fds): (Vec<u64>, Vec<Arc<OwnedFd>>) = {
            let state = scheduler.lock();
            if state.result_thread_done && state.workers.is_empty() {
                break;
            }
            state
                .workers
                .iter()
                .filter(|w| !w.ended)
                .map(|w| (w.id, w.sentinel.clone()))
                .unzip()
        };
        let wake = scheduler.wake_rx.as_fd();
        let mut objects: Vec<&dyn Waitable> = vec![&wake];
        objects.extend(fds.iter().map(|fd| &**fd as &dyn Waitable));
        let ready = mp_pipe::wait(&objects, Some(TICK)).unwrap_or_default();
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&scheduler.wake_rx, &mut buf), Ok(n) if n > 0) {}
        for i in ready.into_iter().filter(|&i| i > 0) {
            let id = ids[i - 1];
            let exitcode = {
                let mut state = scheduler.lock();
                let Some(w) = state.workers.iter_mut().find(|w| w.id == id) else {
                    continue;
                };
                let Some(code) = w.process.exitcode() else {
                    // Readable but not yet reapable: look again shortly.
                    drop(state);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                w.ended = true;
                code
            };
            // Behind everything the worker put before it ended.
            let died = Report::Died {
                worker: id,
                exitcode,
            };
            while let Err(e) = scheduler.results.put_timeout(&died, TICK) {
                if !matches!(e, mp_queue::Error::Full) {
                    break;
                }
            }
            // Someone must route it, also with no chunk in flight.
            scheduler.kick();
        }
        let state = scheduler.lock();
        if state.result_thread_done && state.workers.is_empty() {
            break;
        }
    }
}

impl Scheduler {
    /// Replacements to start now.
    fn replacements_needed(&self, state: &State) -> usize {
        let wanted = match state.phase {
            Phase::Running => true,
            Phase::Closed => !state.chunks.is_empty(),
            Phase::Stopped(_) => false,
        };
        if !wanted {
            return 0;
        }
        let live = state.workers.iter().filter(|w| !w.ended).count() + state.starting;
        self.config.processes.saturating_sub(live)
    }
}
