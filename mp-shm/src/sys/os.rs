//! Process-level calls rustix leaves out, and a fork-proof process-local mutex.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

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
        let me = crate::identity::process().id;
        // Spin only where the holder can run meanwhile (not on one CPU).
        let spin_rounds = mp_internal::spin::rounds(100);
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

/// Wakes up to `n` sleepers on the shared futex word at `addr`, which may
/// no longer be mapped (then nothing happens).
pub(crate) fn futex_wake_at(addr: usize, n: u32) {
    // SAFETY: FUTEX_WAKE reads and writes no user memory: the kernel only
    // turns the address into a key (EFAULT if it is not mapped any more).
    // A word that was unmapped and reused gets a spurious wake-up, which
    // every futex waiter tolerates.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr as *const u32,
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
}

/// How many descriptors [`ForkClosedFd`] can track at once.
const FORK_CLOSED_SLOTS: usize = 256;

/// The numbers of the live [`ForkClosedFd`]s (-1: free slot).
static FORK_CLOSED: [AtomicI32; FORK_CLOSED_SLOTS] =
    [const { AtomicI32::new(-1) }; FORK_CLOSED_SLOTS];

/// Held while a [`ForkClosedFd`] is opened or closed, and by `fork` from
/// its prepare handler to its parent/child handler: a forked child sees
/// every such descriptor in the table, never one in between.
static TRANSIT: AtomicBool = AtomicBool::new(false);

fn enter_transit() {
    while TRANSIT
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
}

fn leave_transit() {
    TRANSIT.store(false, Ordering::Release);
}

extern "C" fn before_fork() {
    enter_transit();
}

extern "C" fn after_fork_in_parent() {
    leave_transit();
}

extern "C" fn after_fork_in_child() {
    for slot in &FORK_CLOSED {
        let fd = slot.swap(-1, Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: `fd` is a descriptor of a `ForkClosedFd`, inherited
            // from the parent; in the child nothing uses or drops those
            // (their owners are the death watcher's state, which a child
            // discards without dropping it, and parent threads that do not
            // exist here), so closing the number here is the only close.
            // `close` is async-signal-safe.
            unsafe { libc::close(fd) };
        }
    }
    leave_transit();
}

/// A descriptor that a forked child closes at once (pidfds and the wake-up
/// eventfd of the death watcher, which mean nothing in the child).
#[derive(Debug)]
pub(crate) struct ForkClosedFd {
    /// `Some` until dropped (it is closed inside the transit section).
    fd: Option<std::os::fd::OwnedFd>,
    slot: usize,
}

impl ForkClosedFd {
    /// Opens a descriptor with `open` and tracks it; `None` if the table
    /// is full (the descriptor is closed again).
    pub(crate) fn open(
        open: impl FnOnce() -> std::io::Result<std::os::fd::OwnedFd>,
    ) -> std::io::Result<Option<ForkClosedFd>> {
        static HOOKS: AtomicBool = AtomicBool::new(false);
        if !HOOKS.swap(true, Ordering::AcqRel) {
            // SAFETY: the handlers are plain functions valid for the whole
            // process; they only spin on and store to atomics and close
            // descriptors, which is async-signal-safe as a fork child needs.
            let rc = unsafe {
                libc::pthread_atfork(
                    Some(before_fork),
                    Some(after_fork_in_parent),
                    Some(after_fork_in_child),
                )
            };
            assert_eq!(rc, 0, "pthread_atfork failed");
        }
        enter_transit();
        let opened = open().map(|fd| {
            use std::os::fd::AsRawFd;
            let raw = fd.as_raw_fd();
            FORK_CLOSED
                .iter()
                .position(|s| {
                    s.compare_exchange(-1, raw, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                })
                .map(|slot| ForkClosedFd { fd: Some(fd), slot })
        });
        leave_transit();
        opened
    }
}

impl std::os::fd::AsFd for ForkClosedFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_ref().expect("open until dropped").as_fd()
    }
}

impl Drop for ForkClosedFd {
    fn drop(&mut self) {
        enter_transit();
        FORK_CLOSED[self.slot].store(-1, Ordering::Relaxed);
        drop(self.fd.take());
        leave_transit();
    }
}
