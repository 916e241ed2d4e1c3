//! Who holds a lock: this process's (or thread's) id, start time and pid
//! namespace, cached, and what `/proc` says about another holder.
//!
//! Ids are only meaningful inside one pid namespace, and `/proc/<id>`
//! shows the namespace of the procfs mounted there, which may not be ours
//! (`unshare --pid` without a new mount). So a holder records its pid
//! namespace (the inode of `/proc/self/ns/pid`) beside its id and start
//! time, and this process judges a holder by `/proc` only when the holder
//! is in its own namespace and `/proc` is its own (`/proc/self` names its
//! own pid). Otherwise nobody can see whether the holder lives, and it is
//! never taken over.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A lock holder as the lock records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    /// Pid (process holders) or tid (thread holders), below 2^22.
    pub(crate) id: u32,
    /// Start time, clock ticks after boot (`/proc/<id>/stat` field 22); 0
    /// when unknown.
    pub(crate) start: u64,
    /// Pid namespace inode; 0 when unknown.
    pub(crate) ns: u32,
    /// 8 bits that tell this holder's acquisitions from those of an earlier
    /// holder with the same id (derived from the start time).
    pub(crate) generation: u32,
}

static PID: AtomicU32 = AtomicU32::new(0);
static START: AtomicU64 = AtomicU64::new(0);
static NS: AtomicU32 = AtomicU32::new(0);
static PROC_OURS: AtomicBool = AtomicBool::new(false);

extern "C" fn forget_after_fork() {
    PID.store(0, Ordering::Relaxed);
}

fn gen_of(start: u64) -> u32 {
    ((start ^ (start >> 8) ^ (start >> 16) ^ (start >> 24)) & 0xff) as u32
}

/// This process.
#[inline]
pub(crate) fn process() -> Me {
    let pid = PID.load(Ordering::Acquire);
    if pid != 0 {
        let start = START.load(Ordering::Relaxed);
        return Me {
            id: pid,
            start,
            ns: NS.load(Ordering::Relaxed),
            generation: gen_of(start),
        };
    }
    init_process()
}

#[cold]
fn init_process() -> Me {
    static HOOK: AtomicBool = AtomicBool::new(false);
    mp_internal::on_fork_child(&HOOK, forget_after_fork);
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let start = start_time_of("self").unwrap_or(0);
    let ns = namespace_of("self");
    // `/proc` is ours if `/proc/self` is our pid there.
    let ours = rustix::fs::readlink("/proc/self", Vec::new())
        .is_ok_and(|link| link.to_bytes() == pid.to_string().as_bytes());
    START.store(start, Ordering::Relaxed);
    NS.store(ns, Ordering::Relaxed);
    PROC_OURS.store(ours, Ordering::Relaxed);
    PID.store(pid, Ordering::Release);
    Me {
        id: pid,
        start,
        ns,
        generation: gen_of(start),
    }
}

thread_local! {
    /// `(pid the entry was made in, tid, start time)`.
    static THREAD: Cell<(u32, u32, u64)> = const { Cell::new((0, 0, 0)) };
}

/// This thread (its namespace is its process's).
#[inline]
pub(crate) fn thread() -> Me {
    let me = process();
    THREAD.with(|t| {
        let (made_in, tid, start) = t.get();
        let (tid, start) = if made_in == me.id {
            (tid, start)
        } else {
            let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
            let start = start_time_of("thread-self").unwrap_or(0);
            t.set((me.id, tid, start));
            (tid, start)
        };
        Me {
            id: tid,
            start,
            ns: me.ns,
            generation: gen_of(start),
        }
    })
}

/// Whether `/proc` shows this process's pid namespace.
pub(crate) fn proc_is_ours() -> bool {
    process();
    PROC_OURS.load(Ordering::Relaxed)
}

/// The pid namespace inode of `/proc/<what>` (0 if unknown).
fn namespace_of(what: &str) -> u32 {
    rustix::fs::stat(format!("/proc/{what}/ns/pid").as_str())
        .ok()
        .and_then(|st| u32::try_from(st.st_ino).ok())
        .unwrap_or(0)
}

/// Field 22 (`starttime`) of `/proc/<what>/stat`.
fn start_time_of(what: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{what}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

/// `(state, starttime)` from a `/proc/<id>/stat` line.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    // The name (field 2) may contain spaces and parentheses: skip to the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4..=21 come between the state (3) and the start time (22).
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// What `/proc` says about a process or thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcState {
    /// Running (or stopped, or asleep), started at this time.
    Running(u64),
    /// A zombie, or gone.
    Ended,
    /// `/proc` cannot tell (not ours, unreadable).
    Unknown,
}

/// `/proc/<id>/stat` of a process or thread in this process's namespace.
pub(crate) fn proc_state(id: u32) -> ProcState {
    if !proc_is_ours() {
        return ProcState::Unknown;
    }
    match std::fs::read_to_string(format!("/proc/{id}/stat")) {
        Ok(stat) => match parse_stat(&stat) {
            Some(('Z' | 'X' | 'x', _)) => ProcState::Ended,
            Some((_, start)) => ProcState::Running(start),
            None => ProcState::Unknown,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProcState::Ended,
        Err(_) => ProcState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_thread_are_known() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let me = process();
        assert_eq!(me.id, std::process::id());
        assert!(me.start > 0 && me.ns != 0);
        assert!(proc_is_ours());
        assert_eq!(proc_state(me.id), ProcState::Running(me.start));
        let t = thread();
        assert_eq!(proc_state(t.id), ProcState::Running(t.start));
        assert_eq!(t.ns, me.ns);
        let other = std::thread::spawn(thread).join().unwrap();
        assert_ne!(other.id, t.id);
        assert_eq!(proc_state(other.id), ProcState::Ended, "an ended thread");
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let line = "12 (a) b (c)) S 1 12 12 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 0 0";
        assert_eq!(parse_stat(line), Some(('S', 777)));
    }
}
