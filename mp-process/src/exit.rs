//! How a process of mp ends: at exit, daemonic children are terminated and
//! the others joined, and the forkserver is shut down, as Python does at
//! interpreter exit; a child leaves the same way with its exit code.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::process::Signal;

use crate::children::{self, Child};
use crate::{forkserver, sys};

/// How long a daemon gets between SIGTERM and SIGKILL at exit.
const DAEMON_GRACE: Duration = Duration::from_secs(1);

/// How a finished child leaves.
pub(crate) enum Exit {
    /// `exit()`: a re-executed child has only its own exit handlers.
    Normally,
    /// `_exit()`: a forked child must not run its parent's exit handlers.
    Immediately,
    /// The program's own at-exit handlers, then `_exit()`: a forkserver's
    /// child, whose program is this one (`sys::exit_after_handlers`).
    AfterHandlers,
}

static AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Records a started child, and makes sure this process finishes its
/// children when it exits.
pub(crate) fn track(child: Arc<Child>) {
    if !AT_EXIT.swap(true, Ordering::SeqCst) {
        sys::at_exit(at_exit);
    }
    log::debug!(
        target: "mp::process",
        "started {} (pid {}) with {}",
        child.name,
        child.pid,
        child.method
    );
    children::register(child);
}

/// What Python does at interpreter exit: terminate daemonic children, then
/// join the others.
pub(crate) fn finish_all() {
    let children = children::take_ours();
    log::info!(target: "mp::process", "process shutting down");
    // A process that started none (a new child leaving, most often) runs
    // no more code than this: each page of code a forked child runs first
    // is a page fault.
    if !children.is_empty() {
        finish_children(children);
    }
    forkserver::shutdown();
}

/// Terminates the daemons among `children`, then joins the others.
fn finish_children(children: Vec<Arc<Child>>) {
    let (daemons, others): (Vec<_>, Vec<_>) = children
        .into_iter()
        .partition(|c| c.terminate_at_exit.load(Ordering::Relaxed));
    for child in &daemons {
        if matches!(child.poll_exit(), Ok(None)) {
            log::debug!(target: "mp::process", "calling terminate() for daemon {}", child.name);
        }
        let _ = child.signal(Signal::TERM);
    }
    for child in &daemons {
        if !matches!(child.wait(Some(DAEMON_GRACE)), Ok(Some(_))) {
            let _ = child.signal(Signal::KILL);
            let _ = child.wait(Some(DAEMON_GRACE));
        }
    }
    for child in &others {
        if matches!(child.poll_exit(), Ok(None)) {
            log::debug!(target: "mp::process", "calling join() for process {}", child.name);
        }
        let _ = child.wait(None);
    }
}

extern "C" fn at_exit() {
    // Unwinding out of an atexit handler would abort; nothing here panics
    // by design, and if it did, exiting anyway is the right outcome.
    let _ = std::panic::catch_unwind(finish_all);
}

/// Leaves like a Python child: join this process's own children, flush
/// output, exit with `code`.
pub(crate) fn finish(code: i32, exit: Exit) -> ! {
    finish_all();
    log::info!(target: "mp::process", "process exiting with exitcode {code}");
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    match exit {
        Exit::Normally => std::process::exit(code),
        Exit::Immediately => sys::exit_now(code),
        Exit::AfterHandlers => sys::exit_after_handlers(code),
    }
}
