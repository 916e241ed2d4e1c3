//! Every `unsafe` operation of this crate, each with the reason it holds:
//! the OS calls here, references to code in [`code`], and the start-up
//! hook in `start_up`.
#![allow(unsafe_code)]

pub(crate) mod code;
pub(crate) mod interrupt;
pub(crate) mod rusage;
mod sibling;
mod spawn;
mod start_up;

pub(crate) use sibling::{fork_as_sibling, thread_count};
pub(crate) use spawn::spawn_self;

use std::io;
use std::os::fd::OwnedFd;

/// The environment variable that marks a re-executed child: its bootstrap
/// message arrives on stdin (the value, `0`, is stdin's descriptor and is
/// not read).
pub(crate) const BOOTSTRAP_ENV: &str = "MP_BOOTSTRAP_FD";

/// The environment variable that names a re-executed child's parent, so the
/// child can tell if its parent died before it could ask to die with it.
pub(crate) const PARENT_ENV: &str = "MP_PARENT_PID";

/// Whether the start-up hook ran in this process (proves it is linked in,
/// so a re-executed copy of this binary will run it too).
pub(crate) static HOOK_RAN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// `fork()`: `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// Only two callers: the forkserver (single-threaded), and the `Fork` start
/// method, which holds every lock of mp's own across the call so the child's
/// copies are consistent, and warns when other threads exist.
pub(crate) fn fork() -> io::Result<Option<u32>> {
    // SAFETY: the child runs only code whose state was consistent at the
    // fork (see above); locks held by a user's other threads are the Fork
    // start method's documented hazard, never touched by mp itself.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid as u32)),
    }
}

/// Ends this process at once with `code`: no atexit handlers, no destructors.
/// A forked child uses this so the parent's exit handlers never run twice.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// Ends this process with `code` once the at-exit handlers registered from
/// this program's code (`atexit`, `__cxa_atexit` with this program's
/// handle) have run, in reverse order as `exit` runs them. What `exit`
/// does besides is left out (this thread's thread-local destructors,
/// shared libraries' handlers and destructors, C stdio's buffers): code a
/// forkserver's child would map page by page just to end (a dozen page
/// faults, 30 µs a start). CPython's children end the same way: exit
/// functions, then `os._exit`.
///
/// Elsewhere than glibc, a plain `exit`.
pub(crate) fn exit_after_handlers(code: i32) -> ! {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            /// Runs, once each, the handlers registered with `dso`.
            fn __cxa_finalize(dso: *mut libc::c_void);
            /// This program's handle: the one its `atexit` registers with
            /// (glibc's `atexit` is linked into each program and passes it).
            static __dso_handle: u8;
        }
        // SAFETY: `__dso_handle` is defined by the C runtime's start files
        // in every program; only its address is taken. `__cxa_finalize`
        // runs the handlers registered with that handle under the C
        // library's lock, each once (as `exit` would, from any thread);
        // the process ends right after, so nothing a handler tore down is
        // used again.
        unsafe { __cxa_finalize((&raw const __dso_handle).cast_mut().cast()) };
        exit_now(code)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    std::process::exit(code)
}

/// Registers `f` to run at normal process exit.
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function that stays valid for the whole process.
    let rc = unsafe { libc::atexit(f) };
    assert_eq!(rc, 0, "atexit registration failed");
}

/// Ignores `SIGPIPE`, as the Rust runtime does before `main` (a child
/// bootstrapped before `main` must do it itself).
pub(crate) fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_IGN has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Takes the bootstrap descriptor a re-executed child inherits as stdin:
/// moves it to a new descriptor and reopens stdin on `/dev/null` (a child
/// reads nothing from its parent's terminal, as in CPython).
pub(crate) fn take_bootstrap_stdin() -> io::Result<OwnedFd> {
    let moved = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdin(), 3)?;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    rustix::stdio::dup2_stdin(&null)?;
    Ok(moved)
}

/// A connected pair of Unix stream sockets, closed on exec: one end for
/// this process, the other for a child (its bootstrap socket, or a
/// `JoinHandle`'s result channel).
pub(crate) fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let pair = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok(pair)
}

/// Starts a detached OS thread running `body`, created with `pthread_create`
/// rather than `std::thread` so that it does not inherit the creating
/// thread's libtest output capture: a child forked from it then prints to
/// the real stdout/stderr, as spawn and forkserver children do.
pub(crate) fn spawn_plain_thread(body: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the pointer leaked below, handed over exactly once.
        let body = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) };
        // Unwinding across `extern "C"` would abort; the body catches its own panics.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(body)).cast::<libc::c_void>();
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `start` has the signature pthread_create expects and takes
    // ownership of `arg`; default attributes.
    let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), start, arg) };
    if rc != 0 {
        // SAFETY: the thread was not created, so `arg` is still ours.
        drop(unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) });
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `thread` is a joinable thread we created and never join.
    unsafe { libc::pthread_detach(thread) };
    Ok(())
}

/// A process-global value that can be replaced without locking: old values
/// are leaked, never dropped or freed, so a `&'static` handed out earlier
/// stays valid (and a forked child never touches its copy of a value that
/// another thread of the parent may have been using).
pub(crate) struct Leaked<T>(std::sync::atomic::AtomicPtr<T>);

impl<T: 'static> Leaked<T> {
    pub(crate) const fn new() -> Leaked<T> {
        Leaked(std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()))
    }

    /// The value, if one was made.
    #[inline]
    pub(crate) fn get(&self) -> Option<&'static T> {
        let current = self.0.load(std::sync::atomic::Ordering::Acquire);
        // SAFETY: every published pointer comes from `Box::into_raw` and is
        // never freed (see `replace`), so it is valid for 'static.
        (!current.is_null()).then(|| unsafe { &*current })
    }

    /// The value, made with `init` if there is none yet or if `stale` says
    /// the one there is stale (that one is leaked).
    pub(crate) fn get_or_replace(
        &self,
        stale: impl Fn(&T) -> bool,
        init: impl FnOnce() -> T,
    ) -> &'static T {
        use std::sync::atomic::Ordering;
        let mut current = self.0.load(Ordering::Acquire);
        let mut init = Some(init);
        let mut fresh: *mut T = std::ptr::null_mut();
        loop {
            if !current.is_null() {
                // SAFETY: every published pointer comes from `Box::into_raw`
                // and is never freed (see `replace`), so it is valid for
                // 'static.
                let value = unsafe { &*current };
                if !stale(value) {
                    if !fresh.is_null() {
                        // SAFETY: `fresh` was never published; it is still ours.
                        drop(unsafe { Box::from_raw(fresh) });
                    }
                    return value;
                }
            }
            if fresh.is_null() {
                let init = init.take().expect("made at most once");
                fresh = Box::into_raw(Box::new(init()));
            }
            match self
                .0
                .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: as above: `fresh` is published now and never freed.
                Ok(_) => return unsafe { &*fresh },
                // Another thread published first: look at its value.
                Err(winner) => current = winner,
            }
        }
    }

    pub(crate) fn replace(&self, value: T) {
        self.replace_boxed(Box::new(value));
    }

    /// [`replace`](Leaked::replace) with a value already boxed (made
    /// before a fork, so that the child allocates nothing).
    pub(crate) fn replace_boxed(&self, value: Box<T>) {
        let fresh = Box::into_raw(value);
        // The previous value is leaked on purpose: references to it may live on.
        self.0.store(fresh, std::sync::atomic::Ordering::Release);
    }
}
