//! Copies between process-private buffers and shared memory that other
//! processes or threads may write at the same time, made only of atomic
//! accesses, so that they race with nothing under Rust's memory model.
//!
//! Two disciplines, one per kind of memory, each using a single access
//! size per location (Rust forbids racing atomic accesses of different
//! sizes to the same bytes):
//!
//! - untyped bytes ([`SharedMemory`](crate::SharedMemory), the tracker's
//!   table): aligned 8-byte words. A copy that starts or ends inside a word
//!   reads the whole word, or replaces its bytes with a compare-exchange
//!   loop on the whole word;
//! - typed elements (`RawArray<T>` and friends): chunks of the largest
//!   power of two up to 8 that divides `size_of::<T>()`, which for `T` of
//!   1, 2, 4 or 8 bytes is the size that `RawArray::load`/`store` use.
//!
//! All accesses are `Relaxed`: ordering between processes comes from the
//! locks, events and semaphores the caller synchronises with.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64};

/// Bytes per word of the untyped discipline.
const WORD: usize = 8;

/// The aligned word at `p`.
///
/// # Safety
///
/// `p` is 8-aligned, inside a live shared mapping, and its 8 bytes are
/// only ever accessed atomically as one `u64` while the reference lives.
#[inline(always)]
unsafe fn word<'a>(p: *const u8) -> &'a AtomicU64 {
    // SAFETY: the caller's contract is exactly `AtomicU64::from_ptr`'s.
    unsafe { AtomicU64::from_ptr(p.cast_mut().cast()) }
}

/// Copies `dst.len()` bytes starting at `src` into `dst` with aligned
/// 8-byte atomic loads (reading the whole words around both ends).
///
/// # Safety
///
/// The aligned 8-byte words that cover `src..src + dst.len()` lie in a
/// live shared mapping (a mapping is whole pages, so the words around
/// in-bounds bytes are mapped) whose bytes are only accessed by this
/// module's word discipline or under an exclusion the caller holds.
pub(crate) unsafe fn read_bytes(src: *const u8, dst: &mut [u8]) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    let head = src as usize % WORD;
    // The word around the first byte, then whole words, then the last one.
    let mut at = src.wrapping_sub(head);
    let mut done = 0;
    if head != 0 {
        // SAFETY: an aligned word covering `src` (the caller's contract).
        let bytes = unsafe { word(at) }.load(Relaxed).to_ne_bytes();
        let take = (WORD - head).min(n);
        dst[..take].copy_from_slice(&bytes[head..head + take]);
        done = take;
        at = at.wrapping_add(WORD);
    }
    let mut body = dst[done..].chunks_exact_mut(WORD);
    for chunk in &mut body {
        // SAFETY: an aligned word inside the range (the caller's contract).
        let w = unsafe { word(at) }.load(Relaxed);
        chunk.copy_from_slice(&w.to_ne_bytes());
        at = at.wrapping_add(WORD);
    }
    let tail = body.into_remainder();
    if !tail.is_empty() {
        // SAFETY: the aligned word covering the last bytes.
        let bytes = unsafe { word(at) }.load(Relaxed).to_ne_bytes();
        let len = tail.len();
        tail.copy_from_slice(&bytes[..len]);
    }
}

/// Replaces `bytes.len()` bytes at `offset` of the word `w`, leaving its
/// other bytes as they are at that moment.
fn store_within(w: &AtomicU64, offset: usize, bytes: &[u8]) {
    let mut current = w.load(Relaxed);
    loop {
        let mut new = current.to_ne_bytes();
        new[offset..offset + bytes.len()].copy_from_slice(bytes);
        match w.compare_exchange_weak(current, u64::from_ne_bytes(new), Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now) => current = now,
        }
    }
}

/// Copies `src` to `dst..dst + src.len()` with aligned 8-byte atomic
/// stores (a compare-exchange on the words around both ends, so bytes next
/// to the range are kept).
///
/// # Safety
///
/// As for [`read_bytes`], for `dst..dst + src.len()`.
pub(crate) unsafe fn write_bytes(dst: *mut u8, src: &[u8]) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let head = dst as usize % WORD;
    let mut at = dst.wrapping_sub(head);
    let mut done = 0;
    if head != 0 {
        let take = (WORD - head).min(n);
        // SAFETY: the aligned word covering `dst` (the caller's contract).
        store_within(unsafe { word(at) }, head, &src[..take]);
        done = take;
        at = at.wrapping_add(WORD);
    }
    let mut body = src[done..].chunks_exact(WORD);
    for chunk in &mut body {
        let w = u64::from_ne_bytes(chunk.try_into().expect("chunks of WORD bytes"));
        // SAFETY: an aligned word inside the range (the caller's contract).
        unsafe { word(at) }.store(w, Relaxed);
        at = at.wrapping_add(WORD);
    }
    let tail = body.remainder();
    if !tail.is_empty() {
        // SAFETY: the aligned word covering the last bytes.
        store_within(unsafe { word(at) }, 0, tail);
    }
}

/// The access size of the typed discipline for elements of `size` bytes.
pub(crate) const fn chunk_for(size: usize) -> usize {
    if size == 0 {
        return 1;
    }
    let low = 1 << size.trailing_zeros();
    if low > WORD { WORD } else { low }
}

macro_rules! chunk_copies {
    ($read:ident, $write:ident, $atomic:ty, $int:ty) => {
        /// # Safety
        ///
        /// See [`read_elements`].
        unsafe fn $read(src: *const u8, dst: *mut u8, bytes: usize) {
            const C: usize = std::mem::size_of::<$int>();
            let mut i = 0;
            while i < bytes {
                // SAFETY: in bounds and aligned to `C` (the caller's
                // contract); `dst` is a private buffer of `bytes` bytes.
                unsafe {
                    let v = <$atomic>::from_ptr(src.add(i).cast_mut().cast()).load(Relaxed);
                    dst.add(i).cast::<$int>().write_unaligned(v);
                }
                i += C;
            }
        }

        /// # Safety
        ///
        /// See [`write_elements`].
        unsafe fn $write(src: *const u8, dst: *mut u8, bytes: usize) {
            const C: usize = std::mem::size_of::<$int>();
            let mut i = 0;
            while i < bytes {
                // SAFETY: as in the read above, the other way round.
                unsafe {
                    let v = src.add(i).cast::<$int>().read_unaligned();
                    <$atomic>::from_ptr(dst.add(i).cast()).store(v, Relaxed);
                }
                i += C;
            }
        }
    };
}

chunk_copies!(read_u8, write_u8, AtomicU8, u8);
chunk_copies!(read_u16, write_u16, AtomicU16, u16);
chunk_copies!(read_u32, write_u32, AtomicU32, u32);
chunk_copies!(read_u64, write_u64, AtomicU64, u64);

/// Copies `n` elements of `T` from shared `src` to private `dst` in
/// atomic chunks of [`chunk_for`]`(size_of::<T>())` bytes.
///
/// # Safety
///
/// `src` points to `n` elements inside a live shared mapping, aligned to
/// that chunk, whose bytes are only accessed in such chunks (or under an
/// exclusion the caller holds); `dst` is valid for writing `n` elements.
pub(crate) unsafe fn read_elements<T>(src: *const T, dst: *mut T, n: usize) {
    let bytes = std::mem::size_of::<T>() * n;
    let (src, dst) = (src.cast::<u8>(), dst.cast::<u8>());
    // SAFETY: the caller's contract, in chunks of the matching size.
    unsafe {
        match chunk_for(std::mem::size_of::<T>()) {
            1 => read_u8(src, dst, bytes),
            2 => read_u16(src, dst, bytes),
            4 => read_u32(src, dst, bytes),
            _ => read_u64(src, dst, bytes),
        }
    }
}

/// Copies `n` elements of `T` from private `src` into shared `dst`, in the
/// chunks of [`read_elements`].
///
/// # Safety
///
/// As for [`read_elements`], with `dst` in the shared mapping and `src`
/// valid for reading `n` elements.
pub(crate) unsafe fn write_elements<T>(src: *const T, dst: *mut T, n: usize) {
    let bytes = std::mem::size_of::<T>() * n;
    let (src, dst) = (src.cast::<u8>(), dst.cast::<u8>());
    // SAFETY: the caller's contract, in chunks of the matching size.
    unsafe {
        match chunk_for(std::mem::size_of::<T>()) {
            1 => write_u8(src, dst, bytes),
            2 => write_u16(src, dst, bytes),
            4 => write_u32(src, dst, bytes),
            _ => write_u64(src, dst, bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_divide_the_element_size() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        assert_eq!(
            [1, 2, 3, 4, 6, 8, 12, 16, 24].map(chunk_for),
            [1, 2, 1, 4, 2, 8, 4, 8, 8]
        );
    }

    #[test]
    fn byte_copies_keep_the_neighbours_at_every_alignment() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let mut words = [0u64; 6];
        let base = words.as_mut_ptr().cast::<u8>();
        let pattern: Vec<u8> = (1..=40).collect();
        for start in 0..16 {
            for len in 0..=(40 - start).min(24) {
                let before: Vec<u8> = (0..48).map(|i| 0xa0 ^ i as u8).collect();
                // SAFETY: `words` is 48 bytes, 8-aligned, used by this thread only.
                unsafe { write_bytes(base, &before) };
                // SAFETY: as above; start + len <= 40 < 48.
                unsafe { write_bytes(base.add(start), &pattern[..len]) };
                let mut all = vec![0; 48];
                // SAFETY: as above.
                unsafe { read_bytes(base, &mut all) };
                let mut expect = before.clone();
                expect[start..start + len].copy_from_slice(&pattern[..len]);
                assert_eq!(all, expect, "start {start} len {len}");
                let mut part = vec![0; len];
                // SAFETY: as above.
                unsafe { read_bytes(base.add(start), &mut part) };
                assert_eq!(part, pattern[..len], "start {start} len {len}");
            }
        }
    }

    #[test]
    fn element_copies_round_trip() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let mut shared = [[0u8; 3]; 5];
        let src = [
            [1u8, 2, 3],
            [4, 5, 6],
            [7, 8, 9],
            [10, 11, 12],
            [13, 14, 15],
        ];
        let mut back = [[0u8; 3]; 5];
        // SAFETY: private arrays of 5 elements, used by this thread only.
        unsafe {
            write_elements(src.as_ptr(), shared.as_mut_ptr(), 5);
            read_elements(shared.as_mut_ptr().cast_const(), back.as_mut_ptr(), 5);
        }
        assert_eq!(back, src);
        let mut shared = [0u128; 3];
        let src = [u128::MAX, 7, 1 << 100];
        let mut back = [0u128; 3];
        // SAFETY: as above.
        unsafe {
            write_elements(src.as_ptr(), shared.as_mut_ptr(), 3);
            read_elements(shared.as_mut_ptr().cast_const(), back.as_mut_ptr(), 3);
        }
        assert_eq!(back, src);
    }
}
