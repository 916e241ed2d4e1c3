//! The cleanup tracker: a tiny process that learns the names of this
//! process's `SharedMemory` segments and unlinks the ones still registered
//! when this process is gone (Python's `resource_tracker`).
//!
//! It is a fresh copy of this binary (re-executed, so it shares no memory
//! or threads with its creator), caught by a start-up hook before `main`.
//! It reads `R name` / `U name` lines on its stdin; end of file means its
//! creator exited — normally, by a panic, or killed by SIGKILL — and it
//! unlinks what is left and exits. It ignores SIGINT, SIGTERM and SIGHUP so
//! a Ctrl-C of the creator does not stop the clean-up.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;

use crate::sys::os::{HOOK_RAN, PidMutex, ignore_termination_signals};

/// Set in the tracker's environment.
pub(crate) const TRACKER_ENV: &str = "MP_SHM_TRACKER";

struct Tracker {
    pid: u32,
    child: Child,
    stdin: ChildStdin,
    names: HashSet<String>,
}

/// A `PidMutex`: a forked child may inherit it locked, and must start its
/// own tracker anyway.
static TRACKER: PidMutex<Option<Tracker>> = PidMutex::new();
static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells the tracker that this process created `name`.
pub(crate) fn register(name: &str) {
    send(true, name);
}

/// Tells the tracker that `name` was unlinked or persisted.
pub(crate) fn unregister(name: &str) {
    send(false, name);
}

fn send(register: bool, name: &str) {
    let mut guard = TRACKER.lock();
    let slot = &mut *guard;
    let pid = std::process::id();
    if let Some(t) = slot.as_mut() {
        if t.pid != pid {
            // Inherited through fork(): the parent's tracker is not ours.
            // Dropping closes this copy of its pipe (no wait, no kill).
            *slot = None;
        } else if !matches!(t.child.try_wait(), Ok(None)) {
            // It died (killed by hand?): start another with what we know.
            let names = std::mem::take(&mut t.names);
            *slot = None;
            if let Some(mut fresh) = start(pid) {
                for n in &names {
                    let _ = writeln!(fresh.stdin, "R {n}");
                }
                fresh.names = names;
                *slot = Some(fresh);
            }
        }
    }
    if slot.is_none() {
        if !register {
            return;
        }
        *slot = start(pid);
    }
    let Some(t) = slot.as_mut() else { return };
    if register {
        t.names.insert(name.to_owned());
    } else if !t.names.remove(name) {
        return;
    }
    // One short line per write: atomic on a pipe.
    let line = format!("{} {name}\n", if register { 'R' } else { 'U' });
    let _ = t.stdin.write_all(line.as_bytes());
}

fn start(pid: u32) -> Option<Tracker> {
    use std::os::unix::process::CommandExt;
    if !HOOK_RAN.load(Ordering::Relaxed) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "mp-shm: the tracker hook is not linked in; segments of a crashed process will not be cleaned up"
            );
        }
        return None;
    }
    let mut child = Command::new("/proc/self/exe")
        .arg0("mp-shm-tracker")
        .env(TRACKER_ENV, "1")
        .env_remove("MP_BOOTSTRAP_FD")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!("mp-shm: cannot start the cleanup tracker: {e}");
            }
        })
        .ok()?;
    let stdin = child.stdin.take()?;
    Some(Tracker {
        pid,
        child,
        stdin,
        names: HashSet::new(),
    })
}

/// The tracker's life: called by the start-up hook, never returns.
pub(crate) fn serve() -> ! {
    ignore_termination_signals();
    let mut names = HashSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.split_once(' ') {
            Some(("R", name)) => {
                names.insert(name.to_owned());
            }
            Some(("U", name)) => {
                names.remove(name);
            }
            _ => {}
        }
    }
    for name in names {
        let _ = rustix::shm::unlink(format!("/{name}"));
    }
    std::process::exit(0)
}
