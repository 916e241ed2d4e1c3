//! The store-load barriers of a wake-up protocol, made asymmetric.
//!
//! A waker stores its change and then loads `sleeping`; a sleeper stores
//! `sleeping` and then loads the state. Each side needs a full barrier
//! between its store and its load, and on the waker's side (every put and
//! every get) that fence was half the cost of a small `put`: it waits for
//! the ring's cache line to come back from the consumer's core.
//!
//! So wakers register their process for `membarrier(2)`'s global expedited
//! command once and then only stop the compiler from reordering; a sleeper,
//! which is about to make a futex system call anyway, issues the
//! `membarrier`, which runs a full barrier on every CPU currently running a
//! registered process (a process not running has passed one in its context
//! switch). A process that cannot register (an old kernel, a seccomp
//! filter) keeps its full fence; a sleeper whose `membarrier` fails sleeps in
//! short slices, so that a registered waker it may have missed is noticed
//! soon after.
//!
//! Shared by mp-queue's wake-ups and mp-pipe's shared-memory fast path.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering, compiler_fence, fence};
use std::time::Duration;

use rustix::thread::{MembarrierCommand, membarrier};

/// Sleep slices when the heavy barrier is unavailable.
pub const FALLBACK_SLICE: Duration = Duration::from_millis(1);

const UNKNOWN: u8 = 0;
const REGISTERED: u8 = 1;
const UNAVAILABLE: u8 = 2;

/// This process's registration (reset in a forked child, which is a new
/// process to the kernel and registers again).
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

extern "C" fn forget_after_fork() {
    STATE.store(UNKNOWN, Ordering::Relaxed);
}

/// The waker's side, between publishing a change and looking for sleepers.
#[inline]
pub fn light() {
    if STATE.load(Ordering::Relaxed) == REGISTERED {
        compiler_fence(Ordering::SeqCst);
    } else {
        light_slow();
    }
}

#[cold]
fn light_slow() {
    static HOOK: AtomicBool = AtomicBool::new(false);
    crate::on_fork_child(&HOOK, forget_after_fork);
    if STATE.load(Ordering::Relaxed) == UNKNOWN {
        let registered = membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
        STATE.store(
            if registered { REGISTERED } else { UNAVAILABLE },
            Ordering::Relaxed,
        );
    }
    // Registered or not, this call fences (a registration that just
    // happened covers only later wakes).
    fence(Ordering::SeqCst);
}

/// Whether this process is registered, so that other processes'
/// `heavy` barriers reach its threads (registers on first use).
pub fn registered() -> bool {
    if STATE.load(Ordering::Relaxed) == UNKNOWN {
        light_slow();
    }
    STATE.load(Ordering::Relaxed) == REGISTERED
}

/// The sleeper's side, between announcing a sleep and the last look;
/// false if the `membarrier` failed.
pub fn heavy() -> bool {
    fence(Ordering::SeqCst);
    membarrier(MembarrierCommand::GlobalExpedited).is_ok()
}
