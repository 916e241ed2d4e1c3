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

/// Maps `header_len` bytes of `fd` followed by `rings` rings of `capacity`
/// bytes each, every ring mapped twice in a row, so that a message that
/// wraps around a ring's end reads and writes as one contiguous run (the
/// layout of mp-queue's and mp-pipe's shared segments): `header_len +
/// 2 * rings * capacity` bytes of address space, read-write and shared,
/// which the caller unmaps (`munmap` of that length) when done.
/// `header_len` and `capacity` must be multiples of the page size, and the
/// file at least `header_len + rings * capacity` bytes long.
pub fn map_mirrored(
    fd: std::os::fd::BorrowedFd<'_>,
    header_len: usize,
    capacity: usize,
    rings: usize,
) -> std::io::Result<std::ptr::NonNull<u8>> {
    use rustix::mm::{MapFlags, ProtFlags};
    let total = header_len + 2 * rings * capacity;
    // SAFETY: reserves fresh address space (no access), replaced below.
    let base = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            total,
            ProtFlags::empty(),
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )?
    };
    let map = |offset: usize, len: usize, file_offset: usize| {
        // SAFETY: `base + offset .. + len` lies inside the reservation made
        // above, which only this function knows about (MAP_FIXED replaces
        // nothing else).
        unsafe {
            rustix::mm::mmap(
                base.cast::<u8>().add(offset).cast(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::FIXED,
                fd,
                file_offset as u64,
            )
        }
    };
    let mut mapped = map(0, header_len, 0);
    for ring in 0..rings {
        let file_offset = header_len + ring * capacity;
        let at = header_len + 2 * ring * capacity;
        mapped = mapped
            .and_then(|_| map(at, capacity, file_offset))
            .and_then(|_| map(at + capacity, capacity, file_offset));
    }
    if let Err(e) = mapped {
        // SAFETY: unmaps exactly the reservation made above, which nothing
        // has borrowed.
        unsafe { rustix::mm::munmap(base, total)? };
        return Err(e.into());
    }
    Ok(std::ptr::NonNull::new(base.cast::<u8>()).expect("mmap never returns null"))
}
