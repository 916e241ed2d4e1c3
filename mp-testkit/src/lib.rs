//! Test support for the mp workspace.
//!
//! Every test that waits on another process starts with a [`deadline`]: if
//! the test is still running when it expires, the whole test binary aborts
//! with a message naming the test, so a hang shows as a failure in CI
//! instead of a stuck run. (Children die with the binary: mp gives every
//! child a parent-death signal.)
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bench_files;
mod flood;
#[cfg(feature = "pki")]
mod pki;

pub use bench_files::{BenchFiles, RUN_VARIABLE};
pub use flood::Flood;
#[cfg(feature = "pki")]
pub use pki::TestPki;

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Aborts the test binary unless dropped within `limit`.
#[must_use = "the deadline is disarmed when this guard is dropped"]
#[derive(Debug)]
pub struct Deadline {
    _disarm: Sender<()>,
}

/// Arms a deadline for the calling test (see the crate docs).
pub fn deadline(limit: Duration) -> Deadline {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    let (disarm, armed) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name(format!("deadline:{test}"))
        .spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = armed.recv_timeout(limit) {
                // Straight to fd 2: `eprintln!` would go to libtest's capture
                // buffer (inherited from the test thread) and die with us.
                let message = format!(
                    "\n*** test `{test}` exceeded its deadline of {limit:?}: aborting ***\n"
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), message.as_bytes());
                std::process::abort();
            }
        })
        .expect("cannot start a deadline thread");
    Deadline { _disarm: disarm }
}

/// Panics with `message` without the panic hook's report on stderr.
///
/// For code that fails on purpose in a test (a pool task, a child process,
/// a manager method), so that a passing run prints nothing for it: a
/// report on stderr should mean a real problem. Whoever catches the panic
/// sees a `String` payload, as after `panic!("{message}")`. A test about
/// the report itself (what the hook prints) uses `panic!`.
///
/// ```
/// let caught = std::panic::catch_unwind(|| mp_testkit::panic_quietly("on purpose"));
/// let payload = caught.unwrap_err();
/// assert_eq!(payload.downcast_ref::<String>().unwrap(), "on purpose");
/// ```
pub fn panic_quietly(message: impl std::fmt::Display) -> ! {
    // The hook runs for `panic!`, not for `resume_unwind`.
    std::panic::resume_unwind(Box::new(message.to_string()))
}

/// Polls `condition` every few milliseconds until it holds or `limit`
/// passes; returns whether it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One process of the process table, as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// State letter: `R`, `S`, `Z` (zombie), ...
    pub state: char,
}

/// Reads one process's `/proc/<pid>/stat`; `None` if it is gone.
pub fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(ProcInfo { pid, ppid, state })
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<ProcInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_info)
        .filter(|p| p.ppid == parent)
        .collect()
}

/// Whether process `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    proc_info(pid).is_some_and(|p| p.state != 'Z')
}
