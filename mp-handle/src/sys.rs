//! The `unsafe` operations of this crate.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, RawFd};

use rustix::net::{AddressFamily, Shutdown, SocketFlags, SocketType};

/// Makes each of `fds` a copy of a dead socket (best effort: a descriptor
/// that cannot be replaced is left as it is).
pub(crate) fn replace_with_dead_socket(fds: &[RawFd]) {
    if fds.is_empty() {
        return;
    }
    let Ok((dead, peer)) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    ) else {
        return;
    };
    let _ = rustix::net::shutdown(&dead, Shutdown::Both);
    drop(peer);
    for &fd in fds {
        // SAFETY: `fd` is a descriptor an mp object registered as its own;
        // dup3 atomically re-points that number at the dead socket, so the
        // number stays valid for whatever still names it (no reuse).
        unsafe { libc::dup3(dead.as_raw_fd(), fd, libc::O_CLOEXEC) };
    }
}

/// Runs `f` in the child after every `fork()` of this process (each call
/// registers it once more: callers register once).
pub(crate) fn on_fork_child(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function valid for the whole process; callers
    // only store to atomics in it, which is async-signal-safe as a fork
    // child requires.
    let rc = unsafe { libc::pthread_atfork(None, None, Some(f)) };
    assert_eq!(rc, 0, "pthread_atfork failed");
}
