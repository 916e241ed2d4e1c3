//! Descriptors owned by mp objects, so that a forked child can let go of
//! the ones it was not given.
//!
//! A `fork` copies every descriptor of the parent. If a child holds a copy
//! of its parent's end of a pipe, the other end never sees end of file:
//! CPython's classic fork hang. mp objects whose descriptors carry meaning
//! for the peer (connections, listeners) register them here; the `Fork`
//! start method then replaces, in the child, every registered descriptor
//! that is not part of the child's arguments with a dead socket. The number
//! stays taken (nothing can reuse it behind an object that still names it),
//! but the original socket is released.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

static TRACKED: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<HashSet<RawFd>>> {
    TRACKED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers a descriptor an mp object owns.
pub fn track(fd: BorrowedFd<'_>) {
    registry()
        .get_or_insert_with(HashSet::new)
        .insert(fd.as_raw_fd());
}

/// Forgets a descriptor before its owner closes it.
pub fn untrack(fd: BorrowedFd<'_>) {
    if let Some(set) = registry().as_mut() {
        set.remove(&fd.as_raw_fd());
    }
}

/// The registry, locked: hold it across `fork` so the child's copy is
/// consistent, then call [`Locked::release_all_except`] in the child.
#[derive(Debug)]
pub struct Locked(MutexGuard<'static, Option<HashSet<RawFd>>>);

/// Locks the registry (see [`Locked`]).
pub fn lock() -> Locked {
    Locked(registry())
}

impl Locked {
    /// In a forked child: replaces every registered descriptor not in `keep`
    /// with a dead socket (reads see end of file, writes fail), and forgets it.
    ///
    /// Inline up to the look at the registry: a child of a process that
    /// owns no mp socket maps no page of code for the rest (every page of
    /// code a forked child runs first is a page fault).
    #[inline]
    pub fn release_all_except(&mut self, keep: &[RawFd]) {
        if let Some(set) = self.0.as_mut().filter(|set| !set.is_empty()) {
            release(set, keep);
        }
    }
}

/// The rest of [`Locked::release_all_except`].
fn release(set: &mut HashSet<RawFd>, keep: &[RawFd]) {
    let release: Vec<RawFd> = set
        .iter()
        .copied()
        .filter(|fd| !keep.contains(fd))
        .collect();
    crate::sys::replace_with_dead_socket(&release);
    for fd in &release {
        set.remove(fd);
    }
}
