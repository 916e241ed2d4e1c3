//! The ring's shared memory: one memfd holding a header page and the ring,
//! with the ring mapped twice back to back, so that a message that runs
//! past the end of the ring is still contiguous in memory.
//!
//! The memfd's size is sealed (`F_SEAL_SHRINK | F_SEAL_GROW |
//! F_SEAL_SEAL`), and only a memfd sealed so is mapped: every handle of the
//! queue carries a duplicate of the descriptor, and any process of the
//! same user can reopen it through `/proc/<pid>/fd`, but none can shrink
//! the file under a mapping (the next access would be a SIGBUS) or add a
//! seal that stops the next process from mapping it. Its bytes cannot be
//! sealed: producers and consumers write them concurrently by design. The
//! `SAFETY` comments below rely on every writer following the ring
//! protocol, which every call of this crate's API does; a byte written
//! into the file by other means (`write(2)` on its descriptor, like a
//! write to `/proc/self/mem`) is outside what any safe API can promise.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};

use crate::header::Header;

/// Bytes before the ring: the header, padded to a page.
pub(crate) const HEADER_LEN: usize = 4096;

/// The seals of a queue's memfd: its size never changes, nor its seals.
const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// A mapping of a queue's memfd.
pub(crate) struct Ring {
    base: NonNull<u8>,
    capacity: usize,
}

// SAFETY: the mapping is shared memory that any thread may use; all access
// goes through atomics (`Header`) or through the ring protocol, whose
// cross-process locks decide who may touch which bytes.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// Creates a zeroed queue memfd with a ring of `capacity` bytes (a
    /// power of two, at least a page), seals its size and maps it.
    pub(crate) fn create(capacity: usize) -> io::Result<(OwnedFd, Ring)> {
        let fd =
            rustix::fs::memfd_create("mp-queue", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, (HEADER_LEN + capacity) as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SEALS)?;
        let ring = Ring::map(fd.as_fd(), capacity)?;
        Ok((fd, ring))
    }

    /// Maps an existing queue memfd (received from another process); only
    /// one whose size is sealed (see the module docs).
    pub(crate) fn map(fd: std::os::fd::BorrowedFd<'_>, capacity: usize) -> io::Result<Ring> {
        let sealed = rustix::fs::fcntl_get_seals(fd).is_ok_and(|seals| seals.contains(SEALS));
        if !sealed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an mp queue segment (its size is not sealed)",
            ));
        }
        let page = rustix::param::page_size();
        let size = rustix::fs::fstat(fd)?.st_size as u64;
        if !capacity.is_power_of_two()
            || capacity % page != 0
            || size != (HEADER_LEN + capacity) as u64
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an mp queue segment",
            ));
        }
        // Header, the ring, the ring again.
        let base = mp_internal::map_mirrored(fd, HEADER_LEN, capacity, 1)?;
        Ok(Ring { base, capacity })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The shared header: all atomics, valid from the zeroed memfd on.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        const { assert!(std::mem::size_of::<Header>() <= HEADER_LEN) };
        // SAFETY: the header page is mapped for the life of `self`, page
        // aligned, and `Header` consists of atomics, for which any bytes
        // (zero included) are valid and concurrent access is defined.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    #[inline]
    fn at(&self, pos: u64) -> *mut u8 {
        // `capacity` is a power of two (checked in `map`): the mask is
        // `pos % capacity` without a division.
        let offset = (pos & (self.capacity as u64 - 1)) as usize;
        // SAFETY: `offset < capacity`: inside the first copy of the ring.
        unsafe { self.base.as_ptr().add(HEADER_LEN + offset) }
    }

    /// Copies `data` into the ring at stream position `pos`.
    ///
    /// Only the producer in the producers' turn calls this, and only for
    /// bytes past the published tail and within the free space it checked:
    /// bytes no consumer reads until they are published.
    #[inline]
    pub(crate) fn write(&self, pos: u64, data: &[u8]) {
        assert!(
            data.len() <= self.capacity,
            "a ring write larger than the ring"
        );
        // SAFETY: the mirror makes `at(pos) .. + len` contiguous and mapped
        // for any len <= capacity; no reference to these bytes exists in this
        // process (readers only borrow published bytes, see `read`).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.at(pos), data.len()) };
    }

    /// [`write`](Self::write) for a fixed-size field (a plain store, never
    /// a call to `memcpy`).
    #[inline]
    pub(crate) fn write_array<const N: usize>(&self, pos: u64, data: &[u8; N]) {
        const { assert!(N <= 4096) };
        // SAFETY: as in `write` (N is at most a page, the smallest ring).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.at(pos), N) };
    }

    /// The chunk tag at stream position `pos` (a multiple of 8), read with
    /// acquire ordering: once it matches, the chunk's bytes are visible.
    #[inline]
    pub(crate) fn load_tag(&self, pos: u64) -> u64 {
        debug_assert_eq!(pos % 8, 0);
        // SAFETY: `at(pos)` is inside the mapping and 8-aligned (the ring
        // starts page-aligned and chunks start at multiples of 8). Tags are
        // only ever accessed atomically while a chunk may be published;
        // the producer overwrites them with plain bytes only laps later,
        // after consumers released them (the ring protocol).
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.at(pos).cast()) }
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Publishes the chunk at `pos` by storing its tag, with release
    /// ordering: its other bytes must already be written.
    #[inline]
    pub(crate) fn store_tag(&self, pos: u64, tag: u64) {
        debug_assert_eq!(pos % 8, 0);
        // SAFETY: as in `load_tag`; only the producer in the producers'
        // turn stores tags, into free space it checked.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.at(pos).cast()) }
            .store(tag, std::sync::atomic::Ordering::Release)
    }

    /// Writes one byte at stream position `pos` (same contract as `write`).
    #[inline]
    pub(crate) fn write_byte(&self, pos: u64, byte: u8) {
        // SAFETY: `at` points inside the mapping; same protocol as `write`.
        unsafe { self.at(pos).write(byte) };
    }

    /// A cursor over `len` bytes of the ring from stream position `pos`, for
    /// serializing a message in place.
    ///
    /// Only the producer in the producers' turn makes one, and only over
    /// free space it checked (past the published tail, within the room the
    /// consumers left): bytes no consumer reads until they are published.
    #[inline]
    pub(crate) fn cursor(&self, pos: u64, len: usize) -> Cursor<'_> {
        assert!(len <= self.capacity, "a cursor longer than the ring");
        Cursor {
            next: self.at(pos),
            left: len,
            written: 0,
            _ring: std::marker::PhantomData,
        }
    }

    /// The ring bytes at stream position `pos .. pos + len`.
    ///
    /// Only the consumer in the consumers' turn calls this, and only for
    /// published bytes it has not released (`head <= pos`, `pos + len <=
    /// tail`). The ring protocol keeps every writer away from those bytes
    /// until `head` moves past them, which the same consumer does after the
    /// slice is gone.
    #[inline]
    pub(crate) fn read(&self, pos: u64, len: usize) -> &[u8] {
        assert!(len <= self.capacity, "a ring read larger than the ring");
        // SAFETY: contiguous and mapped thanks to the mirror; by the ring
        // protocol (above) nothing writes these bytes while the slice lives.
        unsafe { std::slice::from_raw_parts(self.at(pos), len) }
    }
}

/// Writes into a stretch of free ring space (see [`Ring::cursor`]), never
/// past its end.
pub(crate) struct Cursor<'a> {
    next: *mut u8,
    left: usize,
    written: usize,
    _ring: std::marker::PhantomData<&'a Ring>,
}

impl Cursor<'_> {
    /// Appends `data`, or returns false (writing nothing) if it does not fit.
    #[inline]
    pub(crate) fn extend(&mut self, data: &[u8]) -> bool {
        if data.len() > self.left {
            return false;
        }
        // SAFETY: `next .. next + data.len()` lies within the stretch the
        // cursor was made for (mapped and contiguous thanks to the mirror,
        // and given to this producer by the ring protocol).
        unsafe {
            copy_small(data, self.next);
            self.next = self.next.add(data.len());
        }
        self.left -= data.len();
        self.written += data.len();
        true
    }

    /// Appends one byte, or returns false if there is no room.
    #[inline]
    pub(crate) fn push(&mut self, byte: u8) -> bool {
        if self.left == 0 {
            return false;
        }
        // SAFETY: as in `extend`, for one byte.
        unsafe {
            self.next.write(byte);
            self.next = self.next.add(1);
        }
        self.left -= 1;
        self.written += 1;
        true
    }

    /// Bytes written so far.
    #[inline]
    pub(crate) fn written(&self) -> usize {
        self.written
    }
}

/// Copies `data` to `to` (which has room for it), without calling
/// `memcpy` for varints and small fields.
///
/// Those bytes were usually just stored one by one (postcard builds a
/// varint in a stack buffer), and reading them back with wider loads, as
/// `memcpy` does for small sizes, cannot be forwarded from those stores: the
/// load waits until every older store has left the core, including the
/// last message's ring bytes, whose cache lines are at the consumer. So
/// small copies go byte by byte; the volatile reads keep the compiler from
/// turning the loop back into a `memcpy` call.
///
/// # Safety
///
/// `to .. to + data.len()` must be valid for writes and not overlap `data`.
#[inline(always)]
unsafe fn copy_small(data: &[u8], to: *mut u8) {
    let (n, from) = (data.len(), data.as_ptr());
    // SAFETY: reads stay inside `data`, writes inside `to .. to + n` (the
    // caller's contract).
    unsafe {
        if n <= 16 {
            for i in 0..n {
                to.add(i).write(from.add(i).read_volatile());
            }
        } else {
            std::ptr::copy_nonoverlapping(from, to, n);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps the whole reservation made by `map`; the header
        // and slices borrowed from `self` cannot outlive it.
        let _ = unsafe {
            rustix::mm::munmap(self.base.as_ptr().cast(), HEADER_LEN + 2 * self.capacity)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_copies_copy_exactly_their_bytes() {
        let source: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut target = [0u8; 48];
            // SAFETY: `target` has room for 40 bytes from offset 4; distinct buffers.
            unsafe { copy_small(&source[..n], target.as_mut_ptr().add(4)) };
            assert_eq!(&target[4..4 + n], &source[..n], "n = {n}");
            assert!(target[..4].iter().all(|&b| b == 0), "n = {n}: wrote before");
            assert!(
                target[4 + n..].iter().all(|&b| b == 0),
                "n = {n}: wrote past"
            );
        }
    }
}
