//! Internals shared by the mp crates: not a public API.
//!
//! The mp crates (mp-handle, mp-pipe, mp-shm, mp-queue, mp-process, mp-pool,
//! mp-manager) share a few small pieces: how long a blocking call may wait
//! ([`Deadline`]), futex sleeps ([`futex`]), when a waiter spins before it
//! sleeps ([`spin`]), the asymmetric barriers of a wake-up protocol
//! ([`barrier`]), who holds a lock ([`identity`]) and a small robust lock
//! for shared memory ([`robust_lock`]), hooks that run in a forked child ([`on_fork_child`]),
//! the registry of descriptors a forked child lets go of ([`tracked`]),
//! postcard helpers ([`codec`]), zero-sized values made out of nothing
//! ([`conjure`]), and doc examples that read right both in a crate's own
//! docs and in the facade's ([`doc_paths`]). They live here once, instead
//! of a copy in each crate.
//!
//! This crate is published only because the mp crates depend on it. Its
//! items are not part of mp's API and may change in any release; use the
//! `mp` facade or the individual crates instead.
#![deny(missing_docs)]

pub mod barrier;
pub mod codec;
mod deadline;
pub mod doc_paths;
pub mod futex;
pub mod identity;
mod panic;
pub mod robust_lock;
pub mod spin;
mod sys;
pub mod tracked;
mod yield_once;

pub use deadline::Deadline;
pub use panic::panic_message;
pub use sys::{CapturesNothing, conjure, map_mirrored};
pub use yield_once::yield_once;

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` in the child after every `fork()` of this process, for caches
/// a forked child must not keep (a cached pid, per-thread keys): registers
/// it unless `registered` is already set, and sets it.
///
/// An atomic flag, not a `Once`: a child forked while another thread was
/// inside `Once::call_once` would inherit it "in progress" and block on it
/// forever. `f` runs in a child of a possibly multithreaded parent: it may
/// only do what is async-signal-safe, such as storing to atomics.
pub fn on_fork_child(registered: &'static AtomicBool, f: extern "C" fn()) {
    if !registered.swap(true, Ordering::AcqRel) {
        sys::on_fork_child(f);
        let slot = FORK_CHILD_HOOKS
            .iter()
            .find(|slot| slot.set(f).is_ok())
            .is_some();
        assert!(slot, "more than {MAX_FORK_CHILD_HOOKS} fork-child hooks");
    }
}

const MAX_FORK_CHILD_HOOKS: usize = 16;

/// The hooks [`on_fork_child`] registered, for [`run_fork_child_hooks`].
static FORK_CHILD_HOOKS: [std::sync::OnceLock<extern "C" fn()>; MAX_FORK_CHILD_HOOKS] =
    [const { std::sync::OnceLock::new() }; MAX_FORK_CHILD_HOOKS];

/// Runs every hook registered with [`on_fork_child`], in a child made by a
/// raw `clone` (which, unlike `fork()`, runs no `pthread_atfork` handler).
pub fn run_fork_child_hooks() {
    for hook in FORK_CHILD_HOOKS.iter().map_while(std::sync::OnceLock::get) {
        hook();
    }
}
