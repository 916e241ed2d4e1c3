//! Process-level calls rustix leaves out, and zero-sized values.

use std::sync::Once;

/// Runs `f` in the child after every `fork()` of this process (registered
/// once per `f` by the caller).
pub(crate) fn on_fork_child(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function valid for the whole process; it only
    // stores to atomics, which is async-signal-safe as a fork child requires.
    let rc = unsafe { libc::pthread_atfork(None, None, Some(f)) };
    assert_eq!(rc, 0, "pthread_atfork failed");
}

/// Ignores SIGINT, SIGTERM and SIGHUP (the cleanup tracker must outlive a
/// Ctrl-C of its creator to clean up after it).
pub(crate) fn ignore_termination_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: setting a disposition to SIG_IGN has no memory effects.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

/// The zero-sized action `A`, made out of nothing.
///
/// `BarrierAction` is sealed: it is implemented only for `NoAction` (a unit
/// struct) and for closures and `fn` items, which are values without data or
/// invariants when zero-sized (the same reasoning `mp-process` uses for the
/// targets of child processes).
pub(crate) fn conjure<A: crate::BarrierAction>() -> A {
    const {
        assert!(
            std::mem::size_of::<A>() == 0,
            "a barrier action must be a fn item or a non-capturing closure"
        )
    };
    // SAFETY: a zero-sized value has no bytes, so all-zero bytes are it (see above).
    unsafe { std::mem::zeroed::<A>() }
}

/// Whether the tracker hook is linked into this binary (it ran at start-up).
pub(crate) static HOOK_RAN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

ctor::declarative::ctor! {
    // SAFETY: the hook runs before `main` and only reads the environment;
    // when it finds the tracker variable this process is the tracker, a
    // fresh re-executed copy of the binary with no other thread.
    #[ctor(unsafe)]
    fn mp_shm_tracker_hook() {
        HOOK_RAN.store(true, std::sync::atomic::Ordering::Relaxed);
        if std::env::var_os(crate::tracker::TRACKER_ENV).is_some() {
            crate::tracker::serve();
        }
    }
}

static FORK_HOOK: Once = Once::new();

/// Registers the identity cache reset for forked children, once.
pub(crate) fn register_fork_hook(f: extern "C" fn()) {
    FORK_HOOK.call_once(|| on_fork_child(f));
}
