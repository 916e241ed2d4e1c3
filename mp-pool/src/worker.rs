//! A worker process: what it receives when it starts, and its body.

use std::time::{Duration, Instant};

use mp_process::CallError;
use mp_queue::Queue;
use mp_shm::RawValue;
use serde::{Deserialize, Serialize};

use crate::interrupt;
use crate::wire::{ChunkEntry, Init, InitEntry, Report, SharedFd, TaskMsg, WireBytes};

/// How long a worker waits for a task before it looks whether its pool
/// process is still there (it also gets a parent-death signal).
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// What a worker process receives.
#[derive(Serialize, Deserialize)]
pub(crate) struct WorkerSetup {
    pub(crate) worker: u64,
    pub(crate) tasks: Queue<TaskMsg>,
    pub(crate) results: Queue<Report>,
    pub(crate) running: RawValue<u64>,
    pub(crate) init: Option<Init>,
    pub(crate) maxtasks: Option<u64>,
}

/// Runs chunks from the worker's task queue until told to stop, until
/// `maxtasks` chunks are done, or until the pool process is gone.
pub(crate) fn worker_main(setup: WorkerSetup) {
    interrupt::ignore_in_worker();
    let WorkerSetup {
        worker,
        tasks,
        results,
        running,
        init,
        maxtasks,
    } = setup;
    if let Some(init) = init {
        let outcome = match mp_internal::codec::from_bytes_exact::<InitEntry>(init.entry.as_slice())
        {
            Ok(entry) => match init.fds.into_iter().map(SharedFd::into_fd).collect() {
                Ok(fds) => entry.call((init.func.into_vec(), init.args.into_vec(), fds)),
                Err(e) => Err(format!("the initializer's handles: {e}")),
            },
            Err(e) => Err(format!("the initializer reference did not decode: {e}")),
        };
        if let Err(message) = outcome {
            let _ = results.put(&Report::InitFailed { worker, message });
            return;
        }
    }
    let mut done = 0u64;
    loop {
        // Reads no clock when a task is already there.
        let msg = match tasks.get_timeout(IDLE_CHECK) {
            Ok(msg) => msg,
            Err(mp_queue::Error::Empty | mp_queue::Error::Torn) => {
                if mp_process::parent_process().is_some_and(|p| !p.is_alive()) {
                    return;
                }
                continue;
            }
            // Closed, or a message this worker cannot read: end, and the
            // pool sees the exit.
            Err(_) => std::process::exit(70),
        };
        let TaskMsg::Run {
            chunk,
            entry,
            func,
            args,
        } = msg
        else {
            return;
        };
        running.store(chunk);
        // Timing every eighth chunk is enough for the pool's estimate.
        let started = (done % 8 == 0).then(Instant::now);
        // A reference verified before decodes without a new HMAC (RemoteFn
        // keeps the verified ones).
        let output = match mp_internal::codec::from_bytes_exact::<ChunkEntry>(entry.as_slice()) {
            Ok(runner) => runner.call((func.into_vec(), args.into_vec())),
            Err(e) => Err(CallError::Decode(format!(
                "the chunk runner reference did not decode: {e}"
            ))),
        };
        let report = Report::Done {
            worker,
            chunk,
            busy_ns: started.map_or(0, |t| t.elapsed().as_nanos() as u64),
            output: output.map(WireBytes::Owned),
        };
        if results.put(&report).is_err() {
            std::process::exit(70);
        }
        done += 1;
        if maxtasks.is_some_and(|k| done >= k) {
            return;
        }
    }
}
