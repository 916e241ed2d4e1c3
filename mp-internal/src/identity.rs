//! Who holds a lock: this process's (or thread's) id and start time, cached,
//! and whether a recorded holder still exists.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

static PID: AtomicU32 = AtomicU32::new(0);
static PID_START: AtomicU64 = AtomicU64::new(0);

extern "C" fn forget_after_fork() {
    PID.store(0, Ordering::Relaxed);
}

/// This process: `(pid, start time)` (cached; a forked child looks again).
#[inline]
pub fn process() -> (u32, u64) {
    let pid = PID.load(Ordering::Acquire);
    if pid != 0 {
        return (pid, PID_START.load(Ordering::Relaxed));
    }
    init_process()
}

#[cold]
fn init_process() -> (u32, u64) {
    static HOOK: AtomicBool = AtomicBool::new(false);
    crate::on_fork_child(&HOOK, forget_after_fork);
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let start = start_time_of("self").unwrap_or(0);
    PID_START.store(start, Ordering::Relaxed);
    PID.store(pid, Ordering::Release);
    (pid, start)
}

thread_local! {
    /// `(pid the entry was made in, tid, start time)`.
    static THREAD: Cell<(u32, u32, u64)> = const { Cell::new((0, 0, 0)) };
}

/// This thread: `(tid, start time)` (cached per thread).
#[inline]
pub fn thread() -> (u32, u64) {
    let (pid, _) = process();
    THREAD.with(|t| {
        let (made_in, tid, start) = t.get();
        if made_in == pid {
            return (tid, start);
        }
        let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
        let start = start_time_of("thread-self").unwrap_or(0);
        t.set((pid, tid, start));
        (tid, start)
    })
}

/// Field 22 (`starttime`) of `/proc/<what>/stat`.
pub fn start_time_of(what: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{what}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

/// `(state, starttime)` from a `/proc/<id>/stat` line.
pub fn parse_stat(stat: &str) -> Option<(char, u64)> {
    // The name (field 2) may contain spaces and parentheses: skip to the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4..=21 come between the state (3) and the start time (22).
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether the process or thread `id` that recorded `start` (0: unknown)
/// still runs. Zombies are dead; an id now used by a process or thread that
/// started at another time was reused, so the recorded holder is dead too.
/// When in doubt (an unreadable `/proc`), it is alive.
pub fn is_alive(id: u32, start: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{id}/stat")) {
        Ok(stat) => match parse_stat(&stat) {
            Some(('Z' | 'X' | 'x', _)) => false,
            Some((_, now)) => start == 0 || now == start,
            None => true,
        },
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_thread_are_alive() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let (pid, start) = process();
        assert_eq!(pid, std::process::id());
        assert!(start > 0);
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1), "another start time means reuse");
        let (tid, tstart) = thread();
        assert!(is_alive(tid, tstart));
        let other = std::thread::spawn(thread).join().unwrap();
        assert_ne!(other.0, tid);
        assert!(!is_alive(other.0, other.1), "an ended thread is dead");
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let line = "12 (a) b (c)) S 1 12 12 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 0 0";
        assert_eq!(parse_stat(line), Some(('S', 777)));
    }
}
