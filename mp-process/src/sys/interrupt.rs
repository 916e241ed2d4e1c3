//! SIGINT in an mp child: exit code 1, as a CPython child's uncaught
//! `KeyboardInterrupt` gives.
//!
//! The handler acts only while it is SIGINT's installed action. A handler
//! installed later that chains to the one it replaced (signal-hook does,
//! and with it tokio and mp-pool) reaches this one too: it then finds
//! another action installed and returns, leaving the decision to the
//! handler the program chose.

use std::ptr;

/// The address this module's handler is installed under.
fn ours() -> libc::sighandler_t {
    exit_on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t
}

/// SIGINT's installed action (a handler's address, `SIG_DFL` or
/// `SIG_IGN`); `None` if it cannot be read. Async-signal-safe.
#[inline]
fn installed() -> Option<libc::sighandler_t> {
    // SAFETY: `sigaction` is a plain C struct of integers, a signal set and
    // an `Option` of a function pointer: all zeroes is a valid value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into
    // `current`, a valid place of the right type; `sigaction` is
    // async-signal-safe (POSIX), and on success leaves `errno` alone, so
    // the handler below may call this.
    let rc = unsafe { libc::sigaction(libc::SIGINT, ptr::null(), &mut current) };
    (rc == 0).then_some(current.sa_sigaction)
}

/// Exits with code 1 if this handler is still SIGINT's action; returns
/// otherwise (reached by chaining from a handler installed since).
///
/// Output still in a buffer of this process (Rust's stdout holds a line
/// until it ends) is not flushed: flushing takes stdout's lock, which the
/// interrupted thread may hold, and is not async-signal-safe.
extern "C" fn exit_on_sigint(_signal: libc::c_int) {
    if installed() == Some(ours()) {
        super::exit_now(1);
    }
}

/// Makes SIGINT end this process with code 1, if SIGINT has its default
/// action here (or already this handler, inherited through a fork): a
/// process that ignores SIGINT, or handles it, keeps doing so.
///
/// Called by a child before its target runs, when no code of the user's
/// runs in another thread of it (a forked child has one thread; a
/// re-executed one is still before `main`), so the action read is the
/// action replaced. Inline, as what a new child runs first: a page of code
/// less to map.
#[inline]
pub(crate) fn exit_1_on_sigint() {
    let current = installed();
    if current != Some(libc::SIG_DFL) && current != Some(ours()) {
        return;
    }
    // SAFETY: as in `installed`, all zeroes is a valid `sigaction`.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ours();
    // The handler returns only if another action was installed between
    // the signal's delivery and its check: the interrupted call goes on.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is a valid, initialised `sigaction` naming a
    // handler of the `sa_handler` form (no SA_SIGINFO) that calls only
    // async-signal-safe functions (`sigaction`, `_exit`), so whichever
    // thread it interrupts, at whatever point, nothing it touches can be
    // in an inconsistent state; the old action is not asked for.
    unsafe { libc::sigaction(libc::SIGINT, &action, ptr::null_mut()) };
}

/// Whether SIGINT's installed action is the handler `exit_1_on_sigint`
/// installs.
pub(crate) fn exits_with_1() -> bool {
    installed() == Some(ours())
}

/// SIGINT held back in this thread across a fork, so that a child
/// interrupted before it has its handler (`interrupt()` right after
/// `start()`) meets the handler, not the default action: the child (a
/// copy of this thread) and this process each `release` their copy.
#[derive(Clone, Copy)]
pub(crate) struct Held {
    /// SIGINT was blocked already: release leaves it so.
    was_blocked: bool,
}

/// A signal set holding SIGINT alone.
#[inline]
fn sigint_set() -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain integers: all zeroes is a valid value,
    // which `sigemptyset` then makes the empty set.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `sigset_t`; SIGINT is a valid
    // signal number, so neither call can fail.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
    }
    set
}

/// Blocks SIGINT in this thread until `Held::release`.
pub(crate) fn hold() -> Held {
    let set = sigint_set();
    // SAFETY: as in `sigint_set`, all zeroes is a valid `sigset_t`.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a set to add and a place for the old mask;
    // a thread's signal mask is its own, and blocking a signal only defers
    // its delivery.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    // SAFETY: `old` is a valid set (filled by the call, or empty).
    let was_blocked = rc != 0 || unsafe { libc::sigismember(&old, libc::SIGINT) } == 1;
    Held { was_blocked }
}

impl Held {
    /// Unblocks SIGINT, unless it was blocked before `hold`: one that
    /// arrived meanwhile is delivered now.
    #[inline]
    pub(crate) fn release(&self) {
        if self.was_blocked {
            return;
        }
        let set = sigint_set();
        // SAFETY: a valid set to remove from this thread's mask; no old
        // mask is asked for.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut()) };
    }
}
