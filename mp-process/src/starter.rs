//! Where children are forked from.
//!
//! Linux sends a child's parent-death signal when the *thread* that forked
//! it exits, not the process. So children are forked from a thread that
//! lives as long as the process: the main thread when it is the caller, and
//! otherwise one long-lived `mp-starter` thread. A child started from a
//! short-lived worker thread (or a test thread) is then not killed when that
//! thread ends, but still dies with the process.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, MutexGuard};

use crate::state::{self, PerProcess};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Starter {
    jobs: Sender<Job>,
}

thread_local! {
    static ON_SPAWNER: Cell<bool> = const { Cell::new(false) };
}

static STARTER: PerProcess<Mutex<Option<Starter>>> = PerProcess::new();

fn lock() -> MutexGuard<'static, Option<Starter>> {
    state::lock(STARTER.get(|| Mutex::new(None)))
}

fn on_main_thread() -> bool {
    rustix::thread::gettid().as_raw_nonzero().get() as u32 == state::pid()
}

/// Whether the calling thread is the starter thread.
pub(crate) fn on_starter_thread() -> bool {
    ON_SPAWNER.with(Cell::get)
}

/// Whether this process has a starter thread.
pub(crate) fn exists() -> bool {
    lock().is_some()
}

/// Runs `f` on a thread that lives as long as the process, and returns its
/// result (a panic in `f` resumes in the caller).
pub(crate) fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    if on_main_thread() || on_starter_thread() {
        return f();
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    {
        let mut slot = lock();
        slot.get_or_insert_with(start)
            .jobs
            .send(job)
            .expect("the mp-starter thread never exits");
    }
    match rx.recv().expect("the mp-starter thread never exits") {
        Ok(value) => value,
        Err(panic) => resume_unwind(panic),
    }
}

fn start() -> Starter {
    let (jobs, queue) = mpsc::channel::<Job>();
    crate::sys::spawn_plain_thread(Box::new(move || {
        let _ = rustix::thread::set_name(c"mp-starter");
        ON_SPAWNER.with(|f| f.set(true));
        for job in queue {
            job();
        }
    }))
    .expect("cannot start the mp-starter thread");
    Starter { jobs }
}
