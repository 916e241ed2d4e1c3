//! A fork whose parent is this process's parent: how the forkserver makes
//! children that belong to the process that asked for them.
//!
//! `clone3(CLONE_PARENT)` gives the new process this process's parent as
//! its parent. The forkserver's parent is the process that started it, so
//! a child forked this way is that process's own child: it waits for it
//! (`waitid`), gets its exit code first hand, and the child's parent-death
//! signal fires when *that* process dies, not when the forkserver does.
//!
//! `fork()` is glibc's clone plus bookkeeping in the child; a raw clone
//! must redo what of it matters for a single-threaded forkserver:
//! - the thread id glibc keeps for the thread (`CLONE_CHILD_SETTID` on the
//!   address glibc gave the kernel for it, as glibc's own fork does),
//! - the robust-mutex list (not inherited by a clone: re-registered),
//! - the `pthread_atfork` child handlers of mp (run by hand; handlers of
//!   other libraries do not run, which is why only the forkserver, a
//!   fresh single-threaded process that runs no user code, forks this
//!   way). No lock is held at the call, so the child's copies are free.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `prctl` option: the address the kernel clears at thread exit (the one
/// glibc points at its record of the thread's id).
const PR_GET_TID_ADDRESS: libc::c_int = 40;

/// The first eight fields of the kernel's `struct clone_args`
/// (`CLONE_ARGS_SIZE_VER0`).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Forks a child of this process's parent: `Ok(None)` in the child,
/// `Ok(Some((pid, pidfd)))` here. Refuses (an error, no fork) unless this
/// process has one thread: the skipped `fork()` bookkeeping is only
/// harmless then (no other thread can hold a lock the child's copy keeps,
/// and no handler of another library has anything to do).
pub(crate) fn fork_as_sibling() -> io::Result<Option<(u32, OwnedFd)>> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "a fork as a sibling needs a single-threaded process; this one has {threads} threads"
        )));
    }
    let thread = this_thread();
    let (have_tid_address, tid_address) = (thread.tid_address != 0, thread.tid_address);
    let (have_robust_list, robust_head, robust_len) = (
        thread.robust_head != 0,
        thread.robust_head as *mut libc::c_void,
        thread.robust_len,
    );
    let mut pidfd: libc::c_int = -1;
    let mut flags = (libc::CLONE_PARENT | libc::CLONE_PIDFD) as u64;
    let mut child_tid = 0;
    if have_tid_address {
        flags |= (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64;
        child_tid = tid_address as u64;
    }
    let args = CloneArgs {
        flags,
        pidfd: std::ptr::from_mut(&mut pidfd) as u64,
        child_tid,
        parent_tid: 0,
        // With CLONE_PARENT the child's exit signal is this process's own
        // (SIGCHLD), and clone3 wants 0 here.
        exit_signal: 0,
        // 0: the child goes on on this thread's stack, copied, as after fork.
        stack: 0,
        stack_size: 0,
        tls: 0,
    };
    // SAFETY: as fork(): the child gets a copy of this address space and
    // returns from the call on its copy of this stack; `args` is a valid
    // `clone_args` of the size given, and `pidfd` is writable. The child
    // is made consistent below before any other code runs in it.
    let mut pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::from_ref(&args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let mut pidfd_made = true;
    // errno only after a failure: the child would map libc's page for it.
    let refused = pid == -1
        && matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSYS | libc::EPERM)
        );
    if refused {
        // clone3 refused (older seccomp profiles say ENOSYS, some sandboxes
        // EPERM): the classic clone, then a pidfd of its own.
        pidfd_made = false;
        // SAFETY: as above, without CLONE_PIDFD.
        pid = unsafe { clone(flags & !(libc::CLONE_PIDFD as u64), child_tid) };
    }
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            if have_robust_list {
                // SAFETY: the head is this thread's own (glibc's, for the
                // main thread), valid in the child's copy of the memory;
                // no robust mutex is held, so the list is empty.
                unsafe { libc::syscall(libc::SYS_set_robust_list, robust_head, robust_len) };
            }
            mp_internal::run_fork_child_hooks();
            Ok(None)
        }
        pid if pidfd_made => {
            // SAFETY: CLONE_PIDFD stored a new descriptor, owned by nobody
            // else, in `pidfd`.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Some((pid as u32, pidfd)))
        }
        pid => {
            let pid =
                rustix::process::Pid::from_raw(pid as i32).ok_or(io::ErrorKind::InvalidData)?;
            let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
            Ok(Some((pid.as_raw_nonzero().get() as u32, pidfd)))
        }
    }
}

/// The number of threads of this process, from the kernel at the moment
/// of the call: procfs gives `/proc/self/task` two links plus one per
/// thread, counted when it is asked (as a listing of the directory would
/// count them, in one `stat` instead of an open, two reads and a close).
pub(crate) fn thread_count() -> io::Result<usize> {
    let st = rustix::fs::stat("/proc/self/task")?;
    match (st.st_mode & libc::S_IFMT, st.st_nlink.checked_sub(2)) {
        (libc::S_IFDIR, Some(threads)) if threads > 0 => Ok(threads as usize),
        // Not procfs as Linux makes it: no count to trust.
        _ => Err(io::Error::other(
            "/proc/self/task does not count this process's threads",
        )),
    }
}

/// The classic `clone` system call with no new stack (a fork), whose
/// argument order differs by architecture.
///
/// # Safety
///
/// As `fork()`: the caller must make the child consistent before it runs
/// other code (see `fork_as_sibling`).
unsafe fn clone(flags: u64, child_tid: u64) -> libc::c_long {
    let flags = flags as libc::c_ulong;
    // SAFETY: the caller's promise; no new stack, no TLS, no parent tid.
    unsafe {
        if cfg!(target_arch = "x86_64") {
            // flags, stack, parent_tid, child_tid, tls
            libc::syscall(libc::SYS_clone, flags, 0, 0, child_tid, 0)
        } else if cfg!(target_arch = "s390x") {
            // stack, flags, parent_tid, child_tid, tls
            libc::syscall(libc::SYS_clone, 0, flags, 0, child_tid, 0)
        } else {
            // flags, stack, parent_tid, tls, child_tid
            libc::syscall(libc::SYS_clone, flags, 0, 0, 0, child_tid)
        }
    }
}

/// What the kernel holds for the calling (and only) thread: the address
/// glibc gave for its thread id, and its robust-list head (0: unknown).
#[derive(Clone, Copy)]
struct ThisThread {
    tid_address: usize,
    robust_head: usize,
    robust_len: usize,
}

/// Asked once: neither changes in a single-threaded process.
fn this_thread() -> ThisThread {
    static ASKED: std::sync::OnceLock<ThisThread> = std::sync::OnceLock::new();
    *ASKED.get_or_init(|| {
        let mut tid_address: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: PR_GET_TID_ADDRESS writes one pointer to the given address.
        let rc = unsafe {
            libc::prctl(
                PR_GET_TID_ADDRESS,
                std::ptr::from_mut(&mut tid_address) as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        let tid_address = if rc == 0 { tid_address as usize } else { 0 };
        let mut robust_head: *mut libc::c_void = std::ptr::null_mut();
        let mut robust_len: libc::size_t = 0;
        // SAFETY: get_robust_list(0, ...) writes this thread's list head
        // and its length to the two given addresses.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_get_robust_list,
                0,
                std::ptr::from_mut(&mut robust_head),
                std::ptr::from_mut(&mut robust_len),
            )
        };
        let robust_head = if rc == 0 { robust_head as usize } else { 0 };
        ThisThread {
            tid_address,
            robust_head,
            robust_len,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the calling process: whether the thread id glibc keeps for this
    /// (main) thread is the kernel's, and whether a robust list is
    /// registered for it.
    fn glibc_knows_this_thread() -> (bool, bool) {
        let thread = this_thread();
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        // SAFETY: the kernel's tid address of this thread is glibc's field
        // of its thread id, an aligned i32 valid for the thread's life.
        let glibc_tid = unsafe { std::ptr::read_volatile(thread.tid_address as *const i32) };
        let mut head: *mut libc::c_void = std::ptr::null_mut();
        let mut len: libc::size_t = 0;
        // SAFETY: get_robust_list(0, ...) writes this thread's list head
        // and its length to the two given addresses.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_get_robust_list,
                0,
                std::ptr::from_mut(&mut head),
                std::ptr::from_mut(&mut len),
            )
        };
        (
            thread.tid_address != 0 && glibc_tid == tid,
            rc == 0 && head as usize == thread.robust_head,
        )
    }

    #[test]
    fn a_forkserver_child_is_whole_for_glibc() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let seen = crate::context::Context::new(crate::method::StartMethod::Forkserver)
            .spawn(glibc_knows_this_thread, ())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(seen, (true, true));
    }

    #[test]
    fn a_threaded_process_is_refused() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        // The test harness runs this on a thread of its own: two at least.
        let other =
            std::thread::spawn(|| std::thread::park_timeout(std::time::Duration::from_secs(5)));
        let err = fork_as_sibling().unwrap_err();
        assert!(err.to_string().contains("single-threaded"), "{err}");
        other.thread().unpark();
        other.join().unwrap();
    }
}
