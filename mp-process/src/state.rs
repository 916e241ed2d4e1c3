//! This process's mp state: values that belong to one process, which a
//! forked child starts afresh instead of using its copy.
//!
//! A `fork` copies memory but only the calling thread: a lock another thread
//! held at that instant stays locked forever in the child. So a child never
//! touches its copy of a [`PerProcess`] value: the first use in a process
//! whose id differs from the value's owner makes a fresh one (the copy is
//! leaked, never dropped). A forked child that has an identity of its own
//! installs it with [`PerProcess::install`].

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::sys::Leaked;

/// A value of this process, made on first use in each process.
pub(crate) struct PerProcess<T> {
    slot: Leaked<(u32, T)>,
}

impl<T: 'static> PerProcess<T> {
    pub(crate) const fn new() -> PerProcess<T> {
        PerProcess {
            slot: Leaked::new(),
        }
    }

    /// This process's value, made with `init` on its first use here.
    pub(crate) fn get(&self, init: impl FnOnce() -> T) -> &'static T {
        let me = pid();
        let (_, value) = self
            .slot
            .get_or_replace(|(owner, _)| *owner != me, || (me, init()));
        value
    }

    /// This process's value, if it was made.
    #[inline]
    pub(crate) fn peek(&self) -> Option<&'static T> {
        let me = pid();
        self.slot
            .get()
            .filter(|(owner, _)| *owner == me)
            .map(|(_, value)| value)
    }

    /// Makes a prepared value this process's value (the previous one is
    /// leaked); it allocates nothing, so a forked child that installs a
    /// value prepared before the fork writes no allocator page.
    pub(crate) fn install(&self, mut prepared: Prepared<T>) {
        prepared.0.0 = pid();
        self.slot.replace_boxed(prepared.0);
    }
}

/// A value boxed ahead of [`PerProcess::install`] (before a fork, for the
/// child); dropped uninstalled, it is freed like any box.
pub(crate) struct Prepared<T>(Box<(u32, T)>);

impl<T> Prepared<T> {
    pub(crate) fn new(value: T) -> Prepared<T> {
        Prepared(Box::new((0, value)))
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.0.1
    }
}

/// Locks one of the state's mutexes; a panic elsewhere never makes the
/// state unusable (every critical section leaves it consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process's id (Python's `os.getpid()`): `std::process::id()`
/// without a system call after the first, for checks on hot paths ("was
/// this process forked since?"). A fork hook puts the child's own id in
/// the child's copy.
#[inline]
pub fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => cache_pid(),
        pid => pid,
    }
}

static PID: AtomicU32 = AtomicU32::new(0);

#[cold]
fn cache_pid() -> u32 {
    static HOOK: AtomicBool = AtomicBool::new(false);
    mp_internal::on_fork_child(&HOOK, refresh_pid);
    refresh_pid();
    PID.load(Ordering::Relaxed)
}

/// Caches this process's id; in a fork child, from the fork hook, so that
/// the child's first `pid()` finds it. `getpid` is made inline by rustix:
/// a forked child maps no page of code for it (every code page a child
/// runs first is a page fault, std's `process::id` and libc's `getpid`
/// two of them).
extern "C" fn refresh_pid() {
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    PID.store(pid, Ordering::Relaxed);
}
