//! Learning that a lock's holder died, within a millisecond of its death.
//!
//! A waiter cannot sleep on a futex and a pidfd at once. So each process
//! that has waiters runs one watcher thread: a waiter about to sleep on a
//! held lock registers its futex word under the holder's identity, the
//! watcher `poll`s a pidfd of every registered holder, and when one turns
//! readable (the holder exited) it wakes every word registered for it. The
//! woken waiter sees the death and takes the lock over. Until the waiters
//! unregister, the watcher wakes them again every millisecond, for a waiter
//! that checked just before the death and fell asleep just after the wake.
//!
//! The same table answers "is this holder dead?" for `try_acquire` and for
//! a wait that runs out: a holder seen before costs a table look-up, not a
//! read of `/proc`. Holders nobody asked about for a second are dropped
//! (their pidfds closed); the thread ends when the table stays empty for a
//! second. A forked child closes the inherited pidfds at once and starts
//! from an empty table.
//!
//! Nothing here runs on an uncontended acquire or release. Where pidfds do
//! not exist (before Linux 5.3; thread pidfds need 6.9), or too many
//! holders are watched at once, a waiter falls back to looking in `/proc`
//! every [`POLL_INTERVAL`].

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};

use crate::identity::{self, ProcState};
use crate::sys::os::{ForkClosedFd, PidMutex, futex_wake_at};

/// How often a waiter that cannot watch its holder looks in `/proc`.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How often the watcher wakes the waiters of a dead holder again.
const REWAKE: Duration = Duration::from_millis(1);

/// How long a holder nobody waits for stays in the table.
const KEEP: Duration = Duration::from_secs(1);

/// `PIDFD_THREAD` (Linux 6.9): a pidfd of one thread, readable when that
/// thread exits (rustix has no name for it yet).
const PIDFD_THREAD: u32 = 0o200;

/// Start times are compared on their low 34 bits (what a lock records).
pub(crate) const START_BITS: u32 = 34;

/// A lock holder to judge, in this process's pid namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Holder {
    /// Pid, or tid for a thread.
    pub(crate) id: u32,
    /// Low [`START_BITS`] of its start time, if the lock recorded it.
    pub(crate) start: Option<u64>,
    /// A thread (an `RLock` holder), not a process.
    pub(crate) thread: bool,
}

struct Entry {
    /// `None` once dead (the descriptor is closed then).
    pidfd: Option<Arc<ForkClosedFd>>,
    dead: Arc<AtomicBool>,
    /// Addresses of the futex words of the waiters registered here.
    words: Vec<usize>,
    last_used: Instant,
}

#[derive(Default)]
struct Table {
    /// The process this table belongs to (a forked child starts afresh).
    pid: u32,
    entries: HashMap<Holder, Entry>,
    /// Wakes the watcher when a pidfd is added.
    wake: Option<Arc<ForkClosedFd>>,
    running: bool,
}

static TABLE: PidMutex<Table> = PidMutex::new();

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut table = TABLE.lock();
    let pid = identity::process().id;
    if table.pid != pid {
        // Inherited through fork: its descriptors were closed in the child
        // (see `ForkClosedFd`), so the old table is dropped without
        // dropping them.
        std::mem::forget(std::mem::take(&mut *table));
        table.pid = pid;
    }
    f(&mut table)
}

/// What a fresh look at a holder found.
enum Look {
    Dead,
    /// Alive, with a pidfd to watch it.
    Watchable(ForkClosedFd),
    /// Alive as far as `/proc` can tell, and no pidfd to watch it.
    Unwatchable,
}

/// Whether `/proc` shows `h` dead (`false` when it cannot tell).
fn dead_by_proc(h: Holder) -> bool {
    match identity::proc_state(h.id) {
        ProcState::Ended => true,
        ProcState::Running(start) => h
            .start
            .is_some_and(|s| s != start & ((1 << START_BITS) - 1)),
        ProcState::Unknown => false,
    }
}

fn look(h: Holder) -> Look {
    let flags = PidfdFlags::from_bits_retain(if h.thread { PIDFD_THREAD } else { 0 });
    let Some(pid) = Pid::from_raw(h.id as i32) else {
        return Look::Unwatchable;
    };
    let opened = ForkClosedFd::open(|| Ok(rustix::process::pidfd_open(pid, flags)?));
    match opened {
        // No such process or thread in this namespace: the holder is gone.
        Err(e) if e.raw_os_error() == Some(Errno::SRCH.raw_os_error()) => Look::Dead,
        Ok(Some(fd)) => {
            // The pidfd pins the process; `/proc` then says whether it is
            // the holder (start time) and the pidfd whether it already ended.
            if dead_by_proc(h) || exited(&fd) {
                Look::Dead
            } else {
                Look::Watchable(fd)
            }
        }
        // No pidfds here (old kernel, seccomp, no thread pidfds), or the
        // table of watched descriptors is full.
        _ => {
            if dead_by_proc(h) {
                Look::Dead
            } else {
                Look::Unwatchable
            }
        }
    }
}

fn exited(fd: &ForkClosedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&zero)).is_ok_and(|n| n > 0)
}

/// Adds a watchable holder (unless another thread did meanwhile) and makes
/// sure the watcher runs; its dead flag, or `None` if it cannot be watched.
fn insert(table: &mut Table, h: Holder, fd: ForkClosedFd) -> Option<Arc<AtomicBool>> {
    if let Some(e) = table.entries.get_mut(&h) {
        e.last_used = Instant::now();
        return Some(e.dead.clone());
    }
    if !start_watcher(table) {
        return None;
    }
    let dead = Arc::new(AtomicBool::new(false));
    table.entries.insert(
        h,
        Entry {
            pidfd: Some(Arc::new(fd)),
            dead: dead.clone(),
            words: Vec::new(),
            last_used: Instant::now(),
        },
    );
    if let Some(wake) = &table.wake {
        let _ = rustix::io::write(wake.as_fd(), &1u64.to_ne_bytes());
    }
    Some(dead)
}

fn start_watcher(table: &mut Table) -> bool {
    if table.running {
        return true;
    }
    if table.wake.is_none() {
        let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
        match ForkClosedFd::open(|| Ok(rustix::event::eventfd(0, flags)?)) {
            Ok(Some(fd)) => table.wake = Some(Arc::new(fd)),
            _ => return false,
        }
    }
    let spawned = std::thread::Builder::new()
        .name("mp-shm-death-watch".into())
        .spawn(serve);
    table.running = spawned.is_ok();
    table.running
}

/// The holder's dead flag, looking at it first if it is not in the table.
fn dead_flag(h: Holder) -> Result<Arc<AtomicBool>, bool> {
    let known = with_table(|t| {
        t.entries.get_mut(&h).map(|e| {
            e.last_used = Instant::now();
            e.dead.clone()
        })
    });
    if let Some(dead) = known {
        return Ok(dead);
    }
    match look(h) {
        Look::Dead => Err(true),
        Look::Unwatchable => Err(false),
        Look::Watchable(fd) => with_table(|t| insert(t, h, fd)).ok_or(false),
    }
}

/// Whether `h` is dead, as far as this process can see (cheap for a holder
/// seen before: a table look-up).
pub(crate) fn is_dead(h: Holder) -> bool {
    match dead_flag(h) {
        Ok(dead) => dead.load(Acquire),
        Err(dead) => dead,
    }
}

/// A waiter's registration: `word` is woken when the holder dies.
#[derive(Debug)]
pub(crate) struct Watch {
    holder: Holder,
    word: usize,
    dead: Arc<AtomicBool>,
}

impl Watch {
    /// Registers `word` to be woken when `h` dies; `Err(dead)` if `h`
    /// cannot be watched (with whether it is dead already).
    pub(crate) fn new(h: Holder, word: &AtomicU32) -> Result<Watch, bool> {
        let dead = dead_flag(h)?;
        let addr = word as *const AtomicU32 as usize;
        let registered = with_table(|t| match t.entries.get_mut(&h) {
            Some(e) => {
                e.words.push(addr);
                true
            }
            None => false,
        });
        if registered {
            Ok(Watch {
                holder: h,
                word: addr,
                dead,
            })
        } else {
            // Dropped meanwhile (dead, or not asked about for a second).
            Err(dead.load(Acquire))
        }
    }

    pub(crate) fn holder(&self) -> Holder {
        self.holder
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Acquire)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        with_table(|t| {
            if let Some(e) = t.entries.get_mut(&self.holder) {
                if let Some(i) = e.words.iter().position(|w| *w == self.word) {
                    e.words.swap_remove(i);
                }
                e.last_used = Instant::now();
            }
        });
    }
}

/// What the watcher polls in one round.
struct Round {
    wake: Arc<ForkClosedFd>,
    watched: Vec<(Holder, Arc<ForkClosedFd>)>,
    timeout: Option<Duration>,
}

/// Expires entries, and plans the next poll; `None` to stop the thread.
fn plan(t: &mut Table, idle_since: &mut Option<Instant>) -> Option<Round> {
    let now = Instant::now();
    t.entries
        .retain(|_, e| !e.words.is_empty() || (!e.dead.load(Relaxed) && now - e.last_used < KEEP));
    if t.entries.is_empty() {
        let since = *idle_since.get_or_insert(now);
        if now - since >= KEEP {
            t.running = false;
            t.wake = None;
            return None;
        }
    } else {
        *idle_since = None;
    }
    let rewake = t
        .entries
        .values()
        .any(|e| e.dead.load(Relaxed) && !e.words.is_empty());
    let expiry = t
        .entries
        .values()
        .filter(|e| e.words.is_empty())
        .map(|e| (e.last_used + KEEP).saturating_duration_since(now))
        .min();
    let timeout = if rewake {
        Some(REWAKE)
    } else if t.entries.is_empty() {
        Some(KEEP)
    } else {
        expiry.map(|d| d + Duration::from_millis(1))
    };
    Some(Round {
        wake: t.wake.clone()?,
        watched: t
            .entries
            .iter()
            .filter_map(|(h, e)| Some((*h, e.pidfd.clone()?)))
            .collect(),
        timeout,
    })
}

/// The watcher thread.
fn serve() {
    let mut idle_since = None;
    loop {
        let Some(round) = with_table(|t| plan(t, &mut idle_since)) else {
            return;
        };
        let mut fds: Vec<PollFd<'_>> = std::iter::once(&*round.wake)
            .chain(round.watched.iter().map(|(_, fd)| &**fd))
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        let timeout = round.timeout.map(|d| rustix::event::Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as _,
        });
        let ready = match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => fds[1..].iter().map(|f| !f.revents().is_empty()).collect(),
            Err(_) => vec![false; round.watched.len()],
        };
        drop(fds);
        let mut drained = [0u8; 8];
        let _ = rustix::io::read(round.wake.as_fd(), &mut drained);
        with_table(|t| {
            for ((h, _), died) in round.watched.iter().zip(ready) {
                if let Some(e) = t.entries.get_mut(h).filter(|_| died) {
                    e.dead.store(true, Release);
                    e.pidfd = None;
                }
            }
            for e in t.entries.values().filter(|e| e.dead.load(Relaxed)) {
                for &word in &e.words {
                    futex_wake_at(word, u32::MAX);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me_as_holder() -> Holder {
        let me = identity::process();
        Holder {
            id: me.id,
            start: Some(me.start & ((1 << START_BITS) - 1)),
            thread: false,
        }
    }

    #[test]
    fn the_living_are_alive_and_the_gone_dead() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let me = me_as_holder();
        assert!(!is_dead(me));
        assert!(!is_dead(me), "cached");
        let reused = Holder {
            start: me.start.map(|s| s ^ 1),
            ..me
        };
        assert!(is_dead(reused), "another start time: the id was reused");
        let never = Holder {
            id: 0x3f_fff0,
            start: None,
            thread: false,
        };
        assert!(is_dead(never), "above pid_max");
        let t = identity::thread();
        let th = Holder {
            id: t.id,
            start: Some(t.start & ((1 << START_BITS) - 1)),
            thread: true,
        };
        assert!(!is_dead(th));
    }

    #[test]
    fn a_watched_thread_that_ends_wakes_its_waiter() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let th = std::thread::spawn(move || {
            tx.send(identity::thread()).unwrap();
            let _ = stop_rx.recv();
        });
        let t = rx.recv().unwrap();
        let h = Holder {
            id: t.id,
            start: Some(t.start & ((1 << START_BITS) - 1)),
            thread: true,
        };
        let word = AtomicU32::new(7);
        let watch = Watch::new(h, &word).expect("thread pidfds (Linux 6.9)");
        assert!(!watch.is_dead());
        let t0 = Instant::now();
        drop(stop_tx);
        th.join().unwrap();
        while !watch.is_dead() {
            let _ = rustix::thread::futex::wait(
                &word,
                rustix::thread::futex::Flags::empty(),
                7,
                Some(&rustix::thread::futex::Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                }),
            );
            assert!(t0.elapsed() < Duration::from_secs(5), "never woken");
        }
    }
}
