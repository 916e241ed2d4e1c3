//! Memory maps: anonymous memfd segments for values and locks, named POSIX
//! segments for `SharedMemory`, and typed views of the shared records.
//!
//! # What a handle's descriptor allows
//!
//! A value, array or lock reaches another process as its memfd (passed
//! with `SCM_RIGHTS` inside an `mp_handle::encode`d message), and the
//! receiver maps it shared and writable. Safe code holds such descriptors
//! too: `mp_handle::encode(&value)` is public and returns them. A writable
//! descriptor would let safe code `pwrite` bytes under a live guard's
//! `&mut T`, or punch a hole (`fallocate`) under everyone's mappings.
//!
//! Sealing writes cannot help: `F_SEAL_WRITE` also forbids the writable
//! shared mappings every process needs, and `F_SEAL_FUTURE_WRITE` forbids
//! *new* ones, which every receiving process has to make (only the
//! creator's mapping, and those inherited through `fork`, would stay
//! writable). What the memfd is sealed against is its size (`F_SEAL_SHRINK`,
//! `F_SEAL_GROW`, then `F_SEAL_SEAL`): nobody can make a mapping fault.
//!
//! So a segment hands out only a **read-only** descriptor: a second open
//! file description of the same memfd, made by reopening
//! `/proc/self/fd/<n>` with `O_RDONLY`. `write`, `pwrite`, `ftruncate`,
//! `fallocate` and a writable `mmap` all fail on it. The receiving process
//! reopens it read-write the same way (for a memfd the kernel allows that
//! to any process that can open the `/proc` link, as it allows opening
//! `/proc/<pid>/mem`), checks that it got the same file, and keeps the
//! writable descriptor to itself. Reopening through `/proc`, like writing
//! `/proc/<pid>/mem`, is outside what this crate's safe API promises about.
//! Where `/proc` is not mounted the reopen is impossible and the writable
//! descriptor travels instead (the receiver needs one to map).
//!
//! Named `SharedMemory` segments cannot be sealed (`shm_open` files do not
//! allow it) and travel as their writable descriptor: their bytes are only
//! reached through atomic copies, and any process may `shm_open` the name
//! anyway. A process that truncates one makes the others' accesses beyond
//! the new end fault with `SIGBUS`, as in CPython.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock, Weak};

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

use super::atomic_copy;
use super::layout::State;
use super::os::PidMutex;

/// A `MAP_SHARED` read/write mapping of a whole file, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Mapping` is an address range; every access to its bytes goes
// through atomics (`state`), copies (`read`/`write`) or `unsafe` accessors
// whose callers promise exclusivity, so it may move and be shared between
// threads like the process-shared memory it is.
unsafe impl Send for Mapping {}
// SAFETY: see `Send` above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `fd` shared, readable and writable.
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map 0 bytes",
            ));
        }
        // SAFETY: a fresh mapping at an address the kernel chooses overlaps no
        // existing Rust object; it stays valid until `munmap` in `Drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapping { ptr, len })
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first byte (never dereferenced here).
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The record at `offset`, if it is in bounds and aligned.
    pub(crate) fn state<S: State>(&self, offset: usize) -> Option<&S> {
        self.states::<S>(offset, 1).map(|s| &s[0])
    }

    /// `n` consecutive records at `offset`, if in bounds and aligned.
    pub(crate) fn states<S: State>(&self, offset: usize, n: usize) -> Option<&[S]> {
        let bytes = std::mem::size_of::<S>().checked_mul(n)?;
        if offset.checked_add(bytes)? > self.len
            || (self.ptr.as_ptr() as usize + offset) % std::mem::align_of::<S>() != 0
        {
            return None;
        }
        // SAFETY: the range is inside the mapping and aligned (checked above);
        // the mapping outlives `&self`; `S` is made of atomics only (`State`),
        // so concurrent changes by other processes are atomic accesses and
        // every bit pattern is a valid `S`.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset).cast::<S>(), n) })
    }

    /// Copies `dst.len()` bytes from `offset` with atomic word loads; false
    /// if out of bounds. Race-free while other processes write the same
    /// bytes (the copy may then mix old and new words).
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) -> bool {
        if offset
            .checked_add(dst.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: the range is inside the mapping (checked above), which
        // starts page-aligned and is mapped in whole pages, so the aligned
        // words around it are mapped too. Safe code reaches these bytes only
        // through this word discipline (`read`/`write`) or through atomic
        // records (`state`); everything else is `unsafe` with a contract.
        unsafe { atomic_copy::read_bytes(self.ptr.as_ptr().add(offset), dst) };
        true
    }

    /// Copies `src` to `offset` with atomic word stores; false if out of
    /// bounds.
    pub(crate) fn write(&self, offset: usize, src: &[u8]) -> bool {
        if offset
            .checked_add(src.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: as in `read`.
        unsafe { atomic_copy::write_bytes(self.ptr.as_ptr().add(offset), src) };
        true
    }

    /// The mapping as a slice.
    ///
    /// # Safety
    ///
    /// No process may write these bytes while the slice is alive.
    pub(crate) unsafe fn slice(&self) -> &[u8] {
        // SAFETY: in bounds by construction; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The mapping as a mutable slice.
    ///
    /// # Safety
    ///
    /// No other process or thread may read or write these bytes while the
    /// slice is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut(&self) -> &mut [u8] {
        // SAFETY: in bounds by construction; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range was mapped by `map` and no reference into it
        // outlives `self` (views and guards keep the owner alive).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// An open, mapped file: a sealed memfd (values, locks) or a named POSIX
/// segment. Shared by `Arc`; a process maps each memfd once.
#[derive(Debug)]
pub(crate) struct Segment {
    map: Mapping,
    /// The writable descriptor this process maps (never handed out for a
    /// memfd, see the module docs).
    fd: OwnedFd,
    /// A read-only descriptor of the same memfd, for other processes (made
    /// on first use; the received one in a process that attached).
    wire: OnceLock<OwnedFd>,
    /// `(st_dev, st_ino)` of a memfd, the key of the per-process map cache.
    key: Option<(u64, u64)>,
}

type Cache = HashMap<(u64, u64), Weak<Segment>>;

/// memfds mapped by this process, so a handle received twice maps once.
/// (A `PidMutex`: a forked child may inherit it locked.)
static CACHE: PidMutex<Cache> = PidMutex::new();

fn with_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    f(&mut CACHE.lock())
}

fn file_key(fd: BorrowedFd<'_>) -> io::Result<((u64, u64), u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok(((st.st_dev as u64, st.st_ino as u64), st.st_size as u64))
}

impl Segment {
    /// A new zero-filled anonymous segment of `len` bytes whose size is
    /// sealed (nobody can shrink it under a mapping).
    pub(crate) fn create(label: &str, len: usize) -> io::Result<Arc<Segment>> {
        let fd = rustix::fs::memfd_create(label, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let (key, _) = file_key(fd.as_fd())?;
        let map = Mapping::map(fd.as_fd(), len)?;
        let seg = Arc::new(Segment {
            map,
            fd,
            wire: OnceLock::new(),
            key: Some(key),
        });
        with_cache(|c| c.insert(key, Arc::downgrade(&seg)));
        Ok(seg)
    }

    /// The segment behind a memfd received from another process (its
    /// read-only descriptor, reopened writable here: see the module docs).
    ///
    /// Only size-sealed files are accepted: a file that could shrink would
    /// turn every access into a possible SIGBUS.
    pub(crate) fn attach(received: OwnedFd) -> io::Result<Arc<Segment>> {
        let (key, size) = file_key(received.as_fd())?;
        if let Some(seg) = with_cache(|c| c.get(&key).and_then(Weak::upgrade)) {
            return Ok(seg);
        }
        let seals = rustix::fs::fcntl_get_seals(&received)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not an mp-shm segment"))?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::SEAL) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an mp-shm segment (its size is not sealed)",
            ));
        }
        let writable = rustix::fs::fcntl_getfl(&received)?.contains(OFlags::RDWR);
        let (fd, wire) = if writable {
            (received, OnceLock::new())
        } else {
            let fd = reopen(received.as_fd(), OFlags::RDWR)?;
            if file_key(fd.as_fd())?.0 != key {
                return Err(io::Error::other("the reopened segment is another file"));
            }
            (fd, OnceLock::from(received))
        };
        let map = Mapping::map(fd.as_fd(), size as usize)?;
        let seg = Arc::new(Segment {
            map,
            fd,
            wire,
            key: Some(key),
        });
        Ok(with_cache(|c| match c.get(&key).and_then(Weak::upgrade) {
            // Another thread attached the same file meanwhile: use its map.
            Some(existing) => existing,
            None => {
                c.insert(key, Arc::downgrade(&seg));
                seg
            }
        }))
    }

    /// A named POSIX segment's file, mapped for `len` bytes (not cached:
    /// each `SharedMemory` handle has its own mapping, as in Python).
    pub(crate) fn named(fd: OwnedFd, len: usize) -> io::Result<Arc<Segment>> {
        let map = Mapping::map(fd.as_fd(), len)?;
        Ok(Arc::new(Segment {
            map,
            fd,
            wire: OnceLock::new(),
            key: None,
        }))
    }

    pub(crate) fn map(&self) -> &Mapping {
        &self.map
    }

    /// The writable descriptor (for this process's own use).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptor to send to another process: read-only for a memfd
    /// (see the module docs), the writable one for a named segment.
    pub(crate) fn wire_fd(&self) -> BorrowedFd<'_> {
        if self.key.is_none() {
            return self.fd.as_fd();
        }
        if let Some(ro) = self.wire.get() {
            return ro.as_fd();
        }
        match reopen(self.fd.as_fd(), OFlags::RDONLY) {
            // Another thread may have set it meanwhile: then ours is dropped.
            Ok(ro) => self.wire.get_or_init(|| ro).as_fd(),
            // No /proc: the receiver needs a writable descriptor to map.
            Err(_) => self.fd.as_fd(),
        }
    }
}

/// A new open file description of `fd`'s file, through `/proc/self/fd`.
fn reopen(fd: BorrowedFd<'_>, access: OFlags) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::open(
        path.as_str(),
        access | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            with_cache(|c| {
                if c.get(&key).is_some_and(|w| w.strong_count() == 0) {
                    c.remove(&key);
                }
            });
        }
    }
}

/// A record of type `S` inside a segment, kept mapped by the view.
pub(crate) struct View<S: State> {
    seg: Arc<Segment>,
    offset: usize,
    ptr: NonNull<S>,
}

// SAFETY: the view is an `Arc` (Send + Sync) plus a pointer to an
// atomics-only record (`S: State`, itself Send + Sync) that the `Arc` keeps mapped.
unsafe impl<S: State> Send for View<S> {}
// SAFETY: see `Send`.
unsafe impl<S: State> Sync for View<S> {}

impl<S: State> View<S> {
    /// The record at `offset` of `seg`, if in bounds and aligned.
    pub(crate) fn new(seg: Arc<Segment>, offset: usize) -> Option<View<S>> {
        let ptr = NonNull::from(seg.map.state::<S>(offset)?);
        Some(View { seg, offset, ptr })
    }

    /// The shared record.
    #[inline]
    pub(crate) fn get(&self) -> &S {
        // SAFETY: `ptr` came from `Mapping::state` (in bounds, aligned,
        // atomics only) of the mapping that `self.seg` keeps alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.seg
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Whether two views show the same record (the same file and offset).
    pub(crate) fn same(&self, other: &View<S>) -> bool {
        self.ptr == other.ptr
            || (self.offset == other.offset
                && self.seg.key.is_some()
                && self.seg.key == other.seg.key)
    }
}

impl<S: State> Clone for View<S> {
    fn clone(&self) -> View<S> {
        View {
            seg: self.seg.clone(),
            offset: self.offset,
            ptr: self.ptr,
        }
    }
}

impl<S: State> std::fmt::Debug for View<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}
