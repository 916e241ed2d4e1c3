//! The shared memory of a pipe's fast path: one sealed memfd holding a
//! header page (two [`Lane`]s of atomics) and one ring per direction, each
//! ring mapped twice back to back so that a message that runs past its end
//! is still contiguous in memory.
//!
//! The memfd's size is sealed (`F_SEAL_SHRINK | F_SEAL_GROW |
//! F_SEAL_SEAL`) and only a memfd sealed so is mapped: a process that holds
//! the descriptor (every end of the pipe carries one) can neither shrink
//! the file under a mapping (the next access would be a SIGBUS) nor add a
//! seal that stops the next process from mapping it. Memfds have no name in
//! `/dev/shm`: the segment goes away with its last descriptor and mapping,
//! however the processes end.
//!
//! Ring bytes cannot be sealed: writers and readers use them concurrently
//! by design. The `SAFETY` comments below rely on every process following
//! the ring protocol (`fast_path`), which every call of this crate's API
//! does; a byte written into the file by other means (`write(2)` on its
//! descriptor, like a write to `/proc/self/mem`) is outside what any safe
//! API can promise. Even then, every position is masked into the mapping
//! and every length is bounded by the ring: a protocol breach garbles
//! messages (which the reader reports as `Error::Corrupt`), never memory
//! outside the mapping.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};

use crate::lane::{Header, Lane, MAGIC};

/// Bytes before the rings: the header, padded to a page.
const HEADER_LEN: usize = 4096;

/// The seals of a segment: its size never changes, nor its seals.
const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// A mapping of a pipe's memfd, with the memfd (to pass on to other
/// processes).
pub(crate) struct Segment {
    base: NonNull<u8>,
    capacity: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is shared memory that any thread may use; all access
// goes through atomics (`Header`) or through the ring protocol, whose
// cross-process locks decide who may touch which bytes.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl Segment {
    /// Creates a zeroed segment with two rings of `capacity` bytes each (a
    /// power of two, at least a page), seals its size and maps it.
    pub(crate) fn create(capacity: usize) -> io::Result<Segment> {
        let fd =
            rustix::fs::memfd_create("mp-pipe", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, (HEADER_LEN + 2 * capacity) as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SEALS)?;
        let segment = Segment::map_layout(fd)?;
        segment.header().init();
        Ok(segment)
    }

    /// Maps a segment received from another process; only a memfd whose
    /// size is sealed and fits the layout (see the module docs), and
    /// whose header was initialised.
    pub(crate) fn map(fd: OwnedFd) -> io::Result<Segment> {
        let segment = Segment::map_layout(fd)?;
        if segment
            .header()
            .magic
            .load(std::sync::atomic::Ordering::Acquire)
            != MAGIC
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an mp pipe segment",
            ));
        }
        Ok(segment)
    }

    fn map_layout(fd: OwnedFd) -> io::Result<Segment> {
        let not_ours = || io::Error::new(io::ErrorKind::InvalidData, "not an mp pipe segment");
        let sealed = rustix::fs::fcntl_get_seals(&fd).is_ok_and(|seals| seals.contains(SEALS));
        if !sealed {
            return Err(not_ours());
        }
        let page = rustix::param::page_size();
        let size = rustix::fs::fstat(&fd)?.st_size as u64;
        let capacity = (size.saturating_sub(HEADER_LEN as u64) / 2) as usize;
        if !capacity.is_power_of_two()
            || capacity % page != 0
            || size != (HEADER_LEN + 2 * capacity) as u64
        {
            return Err(not_ours());
        }
        // Header, ring 0, ring 0 again, ring 1, ring 1 again.
        let base = mp_internal::map_mirrored(fd.as_fd(), HEADER_LEN, capacity, 2)?;
        Ok(Segment { base, capacity, fd })
    }

    /// The memfd, to send along with a connection.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Bytes in each ring.
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

    /// Lane `i` (0 or 1).
    #[inline]
    pub(crate) fn lane(&self, i: usize) -> &Lane {
        &self.header().lanes[i & 1]
    }

    #[inline]
    fn at(&self, lane: usize, pos: u64) -> *mut u8 {
        // `capacity` is a power of two (checked in `map`): the mask is
        // `pos % capacity` without a division.
        let offset = (pos & (self.capacity as u64 - 1)) as usize;
        let ring = HEADER_LEN + (lane & 1) * 2 * self.capacity;
        // SAFETY: `ring + offset` lies inside the first copy of the lane's
        // ring, inside the mapping.
        unsafe { self.base.as_ptr().add(ring + offset) }
    }

    /// Copies `data` into lane `lane`'s ring at stream position `pos`.
    ///
    /// Only the writer holding the lane's writer lock calls this, and only
    /// for bytes past the published tail and within the free space it
    /// checked: bytes no reader reads until they are published.
    #[inline]
    pub(crate) fn write(&self, lane: usize, pos: u64, data: &[u8]) {
        assert!(
            data.len() <= self.capacity,
            "a ring write larger than the ring"
        );
        // SAFETY: the mirror makes `at(pos) .. + len` contiguous and mapped
        // for any len <= capacity; no reference to these bytes exists (reads
        // copy out, see `read`), and by the ring protocol no other process
        // touches them until they are published.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.at(lane, pos), data.len()) };
    }

    /// Copies the ring bytes at stream position `pos .. pos + out.len()`
    /// of lane `lane` into `out`.
    ///
    /// Only the reader holding the lane's reader lock calls this, and only
    /// for published bytes it has not released (`head <= pos`, `pos + len
    /// <= tail`): by the ring protocol no writer touches them until `head`
    /// moves past them.
    #[inline]
    pub(crate) fn read(&self, lane: usize, pos: u64, out: &mut [u8]) {
        assert!(
            out.len() <= self.capacity,
            "a ring read larger than the ring"
        );
        // SAFETY: contiguous and mapped thanks to the mirror; `out` is this
        // process's own memory, distinct from the mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.at(lane, pos), out.as_mut_ptr(), out.len()) };
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: unmaps the whole reservation made by `map`; the header
        // borrowed from `self` cannot outlive it.
        let _ = unsafe {
            rustix::mm::munmap(self.base.as_ptr().cast(), HEADER_LEN + 4 * self.capacity)
        };
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_end_reads_back_whole_through_the_mirror() {
        let page = rustix::param::page_size();
        let segment = Segment::create(page).unwrap();
        let data: Vec<u8> = (0..100u8).collect();
        for lane in 0..2 {
            let pos = (page - 40) as u64 + lane as u64;
            segment.write(lane, pos, &data);
            let mut back = vec![0; 100];
            segment.read(lane, pos, &mut back);
            assert_eq!(back, data);
            // The same bytes seen from the ring's start (the wrapped part).
            let mut wrapped = vec![0; 60 + lane];
            segment.read(lane, 0, &mut wrapped);
            assert_eq!(wrapped, data[40 - lane..]);
        }
    }

    #[test]
    fn only_sealed_segments_of_the_layout_are_mapped() {
        let fd =
            rustix::fs::memfd_create("x", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, (HEADER_LEN + 2 * 4096) as u64).unwrap();
        let dup = rustix::io::fcntl_dupfd_cloexec(&fd, 0).unwrap();
        assert!(Segment::map(dup).is_err(), "unsealed");
        rustix::fs::fcntl_add_seals(&fd, SEALS).unwrap();
        let dup = rustix::io::fcntl_dupfd_cloexec(&fd, 0).unwrap();
        assert!(Segment::map(dup).is_err(), "never initialised");
        assert!(Segment::map_layout(fd).is_ok());
        let odd =
            rustix::fs::memfd_create("y", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&odd, 5000).unwrap();
        rustix::fs::fcntl_add_seals(&odd, SEALS).unwrap();
        assert!(Segment::map(odd).is_err(), "wrong size");
    }
}
