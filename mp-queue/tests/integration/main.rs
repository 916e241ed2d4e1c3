//! mp-queue across real processes, one area per module, each test with a
//! deadline.

#[cfg(feature = "tokio")]
mod awaited;
mod basics;
mod crashes;
mod many;
mod processes;
mod shutdown;
mod streaming;
mod stress;
mod turns;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use mp_testkit::{eventually, proc_info};

pub const SECS: Duration = Duration::from_secs(1);
/// The timeout of every wait that should end long before it.
pub const T: Duration = Duration::from_secs(20);

/// Waits until the process or thread `id` sleeps (state S): the tests send
/// it into a queue wait, the one place where it can sleep.
pub fn asleep(id: u32) {
    assert!(
        eventually(T, || proc_info(id).is_some_and(|p| p.state == 'S')),
        "{id} never fell asleep"
    );
}

/// Runs `f` on a new thread, and returns once that thread sleeps (in the
/// queue wait `f` makes, see [`asleep`]).
pub fn spawn_until_asleep<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<R> {
    let (tids, tid) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        tids.send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
            .unwrap();
        f()
    });
    asleep(tid.recv().unwrap());
    thread
}
