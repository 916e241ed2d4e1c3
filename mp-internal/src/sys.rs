//! The `unsafe` operations of this crate, each with the reason it holds.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, RawFd};

use rustix::net::{AddressFamily, Shutdown, SocketFlags, SocketType};

/// Runs `f` in the child after every `fork()` of this process (each call
/// registers it once more: callers register once).
pub(crate) fn on_fork_child(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function valid for the whole process; callers
    // only store to atomics in it, which is async-signal-safe as a fork
    // child requires.
    let rc = unsafe { libc::pthread_atfork(None, None, Some(f)) };
    assert_eq!(rc, 0, "pthread_atfork failed");
}

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
        // SAFETY: dup3 only re-points the number `fd` at the dead socket
        // (atomically, so the number never dangles or gets reused for
        // something else); it touches no memory. Callers pass numbers that
        // mp objects registered as their own (see `tracked`).
        unsafe { libc::dup3(dead.as_raw_fd(), fd, libc::O_CLOEXEC) };
    }
}

/// The compile-time check that `F`, a process target, captures nothing
/// (is zero-sized): `let () = CapturesNothing::<F>::CHECK;` fails to build
/// otherwise.
///
/// Every function that needs it uses this one constant, so a capturing
/// closure gets one error, with this message, however many of them its
/// call reaches (no trait bound can say "zero-sized" on stable Rust, so it
/// shows at `cargo build`, not `cargo check`).
#[derive(Debug)]
pub struct CapturesNothing<F>(std::marker::PhantomData<F>);

impl<F> CapturesNothing<F> {
    /// Evaluates (and fails the build) for a non-zero-sized `F`.
    pub const CHECK: () = assert!(
        std::mem::size_of::<F>() == 0,
        "a process target must capture nothing: the child makes the function \
         again from its type alone. Pass what the closure captures as arguments \
         (`Process::new(f, (x,))`, `pool.apply(f, (x,))`), or start a capturing \
         closure with `Process::from_closure` (Fork start method only)"
    );
}

/// A value of the zero-sized type `T`, made out of nothing.
///
/// A process started by re-executing the program (or a forkserver's child)
/// receives the *type* of a function item or non-capturing closure, not a
/// value: this makes the value back.
///
/// # Safety
///
/// `T` must be a type whose values carry no invariant beyond their type:
/// a `fn` item or a closure that captures nothing, or a field-less struct
/// that anyone may construct. A zero-sized type that stands for a proof or
/// a unique token (a branded `GhostToken`, a closure capturing one) must
/// not be conjured. `T` must be zero-sized; a non-zero-sized `T` fails to
/// compile (with [`CapturesNothing::CHECK`]'s message).
pub unsafe fn conjure<T>() -> T {
    let () = CapturesNothing::<T>::CHECK;
    // SAFETY: `T` has no bytes, so the empty (all-zero) byte string is its
    // only representation; the caller promises that making a value of it
    // breaks no invariant (see above).
    unsafe { std::mem::zeroed::<T>() }
}
