//! The cleanup tracker: a tiny process that unlinks the `SharedMemory`
//! segments its creator left behind when the creator is gone (Python's
//! `resource_tracker`).
//!
//! It is a fresh copy of this binary (re-executed, so it shares no memory
//! or threads with its creator), caught by a start-up hook before `main`.
//! The creator records the names of its live segments in a table of slots
//! in a memfd that the tracker maps too (its stdout), so registering a name
//! is a memory write, not a message. The tracker only waits for end of file
//! on its stdin, a pipe whose write end only the creator holds: it comes
//! when the creator exits — normally, by a panic, or killed by SIGKILL.
//! Then the tracker unlinks every name still in the table and exits. It
//! ignores SIGINT, SIGTERM and SIGHUP, so a Ctrl-C of the creator does not
//! stop the clean-up.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::shared_memory::MAX_NAME_LEN;
use crate::sys::layout::TrackerSlot;
use crate::sys::memory::{Mapping, Segment};
use crate::sys::os::{HOOK_RAN, PidMutex, ignore_termination_signals};

/// Set in the tracker's environment.
pub(crate) const TRACKER_ENV: &str = "MP_SHM_TRACKER";

const SLOT: usize = 512;
const SLOTS: usize = 4096;
const NAME_AT: usize = 8;

struct Tracker {
    pid: u32,
    child: Child,
    /// Never written: its end of file tells the tracker we are gone.
    _lifeline: ChildStdin,
    table: Arc<Segment>,
    /// Registered names and their slots.
    names: HashMap<String, usize>,
    free: Vec<usize>,
    next: usize,
    registrations: u32,
}

/// A `PidMutex`: a forked child may inherit it locked, and must start its
/// own tracker anyway.
static TRACKER: PidMutex<Option<Tracker>> = PidMutex::new();
static WARNED: AtomicBool = AtomicBool::new(false);

fn warn(message: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("mp-shm: {message}; segments of a crashed process will not be cleaned up");
    }
}

fn slot(map: &Mapping, i: usize) -> &TrackerSlot {
    map.state::<TrackerSlot>(i * SLOT)
        .expect("the table holds SLOTS slots")
}

impl Tracker {
    fn add(&mut self, name: &str) {
        if self.names.contains_key(name) || name.len() > MAX_NAME_LEN {
            return;
        }
        let Some(i) = self.free.pop().or_else(|| {
            (self.next < SLOTS).then(|| {
                self.next += 1;
                self.next - 1
            })
        }) else {
            warn("the cleanup tracker's table is full");
            return;
        };
        let map = self.table.map();
        map.write(i * SLOT + NAME_AT, name.as_bytes());
        let s = slot(map, i);
        s.len.store(name.len() as u32, Relaxed);
        s.state.store(1, Release);
        self.names.insert(name.to_owned(), i);
    }

    fn remove(&mut self, name: &str) {
        if let Some(i) = self.names.remove(name) {
            slot(self.table.map(), i).state.store(0, Release);
            self.free.push(i);
        }
    }
}

/// Records that this process created `name`.
pub(crate) fn register(name: &str) {
    let mut guard = TRACKER.lock();
    let slot = &mut *guard;
    let pid = crate::identity::process().id;
    if slot.as_ref().is_some_and(|t| t.pid != pid) {
        // Inherited through fork(): the parent's tracker is not ours.
        // Dropping closes this copy of its lifeline (no wait, no kill).
        *slot = None;
    }
    // Now and then, make sure the tracker still runs (someone may kill it).
    if let Some(t) = slot.as_mut() {
        t.registrations = t.registrations.wrapping_add(1);
        if t.registrations % 64 == 0 && !matches!(t.child.try_wait(), Ok(None)) {
            let names: Vec<String> = t.names.keys().cloned().collect();
            *slot = start(pid);
            if let Some(fresh) = slot.as_mut() {
                names.iter().for_each(|n| fresh.add(n));
            }
        }
    }
    if slot.is_none() {
        *slot = start(pid);
    }
    if let Some(t) = slot.as_mut() {
        t.add(name);
    }
}

/// Records that `name` was unlinked or persisted.
pub(crate) fn unregister(name: &str) {
    let mut guard = TRACKER.lock();
    let pid = crate::identity::process().id;
    if let Some(t) = guard.as_mut().filter(|t| t.pid == pid) {
        t.remove(name);
    }
}

fn start(pid: u32) -> Option<Tracker> {
    use std::os::unix::process::CommandExt;
    if !HOOK_RAN.load(Relaxed) {
        warn("the tracker hook is not linked in");
        return None;
    }
    let table = Segment::create("mp-shm:tracker", SLOT * SLOTS)
        .map_err(|e| warn(&format!("cannot create the tracker table ({e})")))
        .ok()?;
    let table_fd = table
        .fd()
        .try_clone_to_owned()
        .map_err(|e| warn(&format!("cannot share the tracker table ({e})")))
        .ok()?;
    let mut child = Command::new("/proc/self/exe")
        .arg0("mp-shm-tracker")
        .env(TRACKER_ENV, "1")
        .env_remove("MP_BOOTSTRAP_FD")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(table_fd))
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| warn(&format!("cannot start the cleanup tracker ({e})")))
        .ok()?;
    let lifeline = child.stdin.take()?;
    Some(Tracker {
        pid,
        child,
        _lifeline: lifeline,
        table,
        names: HashMap::new(),
        free: Vec::new(),
        next: 0,
        registrations: 0,
    })
}

/// The tracker's life: called by the start-up hook, never returns.
pub(crate) fn serve() -> ! {
    ignore_termination_signals();
    // Wait for the creator to go away: end of file (or an error) on stdin.
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    // The table is our stdout.
    let table = std::io::stdout().as_fd().try_clone_to_owned().ok();
    if let Some(map) = table.and_then(|fd| Mapping::map(fd.as_fd(), SLOT * SLOTS).ok()) {
        for i in 0..SLOTS {
            let s = slot(&map, i);
            if s.state.load(Acquire) != 1 {
                continue;
            }
            let len = (s.len.load(Relaxed) as usize).min(MAX_NAME_LEN);
            let mut name = vec![0u8; len];
            map.read(i * SLOT + NAME_AT, &mut name);
            if let Ok(name) = String::from_utf8(name) {
                let _ = rustix::shm::unlink(format!("/{name}"));
            }
        }
    }
    std::process::exit(0)
}
