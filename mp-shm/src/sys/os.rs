//! Process-level calls rustix leaves out, and a fork-proof process-local mutex.

use std::sync::atomic::{AtomicBool, Ordering};

/// Ignores SIGINT, SIGTERM and SIGHUP (the cleanup tracker must outlive a
/// Ctrl-C of its creator to clean up after it).
pub(crate) fn ignore_termination_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: setting a disposition to SIG_IGN has no memory effects.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

/// Whether the tracker hook is linked into this binary (it ran at start-up).
pub(crate) static HOOK_RAN: AtomicBool = AtomicBool::new(false);

ctor::declarative::ctor! {
    // SAFETY: the hook runs before `main` and only reads the environment;
    // when it finds the tracker variable this process is the tracker, a
    // fresh re-executed copy of the binary with no other thread.
    #[ctor(unsafe)]
    fn mp_shm_tracker_hook() {
        HOOK_RAN.store(true, Ordering::Relaxed);
        if std::env::var_os(crate::tracker::TRACKER_ENV).is_some() {
            crate::tracker::serve();
        }
    }
}

/// A mutex for process-private state that a forked child may inherit
/// locked (another thread of the parent held it at the fork): the holder is
/// recorded by pid, and a process that finds the lock held by another pid
/// knows the holder is not one of its threads. It takes the lock over and
/// starts from `T::default()` (the inherited value may be half-updated, so
/// it is leaked, never read or dropped).
pub(crate) struct PidMutex<T> {
    owner: std::sync::atomic::AtomicU32,
    value: std::cell::UnsafeCell<Option<T>>,
}

// SAFETY: the value is only reached through a `PidGuard`, which exists for
// one thread at a time (the `owner` CAS), like `std::sync::Mutex<T>`.
unsafe impl<T: Send> Sync for PidMutex<T> {}

impl<T: Default> PidMutex<T> {
    pub(crate) const fn new() -> PidMutex<T> {
        PidMutex {
            owner: std::sync::atomic::AtomicU32::new(0),
            value: std::cell::UnsafeCell::new(None),
        }
    }

    pub(crate) fn lock(&self) -> PidGuard<'_, T> {
        let me = crate::identity::process().0;
        // Spin only where the holder can run meanwhile (not on one CPU).
        let spin_rounds = mp_handle::spin::rounds(100);
        let mut spins = 0u32;
        loop {
            match self
                .owner
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(holder) if holder != me => {
                    // Inherited through fork from a thread that is not here.
                    if self
                        .owner
                        .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        // SAFETY: we hold the lock now (CAS above); the old
                        // value is leaked, not read.
                        unsafe { std::mem::forget((*self.value.get()).take()) };
                        break;
                    }
                }
                Err(_) if spins < spin_rounds => {
                    spins += 1;
                    std::hint::spin_loop();
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_micros(20)),
            }
        }
        PidGuard { mutex: self }
    }
}

/// Exclusive access to a [`PidMutex`]'s value.
pub(crate) struct PidGuard<'a, T> {
    mutex: &'a PidMutex<T>,
}

impl<T: Default> std::ops::Deref for PidGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference exists;
        // the value is initialised on first access.
        unsafe { (*self.mutex.value.get()).get_or_insert_with(T::default) }
    }
}

impl<T: Default> std::ops::DerefMut for PidGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes it unique.
        unsafe { (*self.mutex.value.get()).get_or_insert_with(T::default) }
    }
}

impl<T> Drop for PidGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.owner.store(0, Ordering::Release);
    }
}
