//! Typed data in shared memory: regions, the guards that hand out
//! references under a held lock, and the raw accessors.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use super::atomic_copy;
use super::memory::Segment;
use super::shareable::Shareable;
use crate::lock::LockGuard;
use crate::raw::{RawArray, RawValue};
use crate::shared_memory::SharedMemory;

/// `len` elements of `T` at `offset` of a segment (bounds and alignment
/// checked at construction).
pub(crate) struct DataRegion<T> {
    seg: Arc<Segment>,
    offset: usize,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Shareable> DataRegion<T> {
    pub(crate) fn new(seg: Arc<Segment>, offset: usize, len: usize) -> Option<DataRegion<T>> {
        const { assert!(std::mem::align_of::<T>() <= 4096, "alignment above a page") };
        let bytes = std::mem::size_of::<T>().checked_mul(len)?;
        let end = offset.checked_add(bytes)?;
        let aligned = (seg.map().as_ptr() as usize + offset) % std::mem::align_of::<T>() == 0
            && (offset % 8 == 0);
        (end <= seg.map().len() && aligned).then_some(DataRegion {
            seg,
            offset,
            len,
            _t: PhantomData,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.seg
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    fn ptr(&self) -> *mut T {
        self.seg
            .map()
            .as_ptr()
            .wrapping_add(self.offset)
            .cast::<T>()
    }

    /// Atomic load of element `i` (`T` of 1, 2, 4 or 8 bytes).
    ///
    /// # Panics
    ///
    /// If `i` is out of bounds (callers check first).
    pub(crate) fn load(&self, i: usize) -> T {
        assert!(i < self.len, "index out of bounds");
        let p = self.ptr().wrapping_add(i);
        // SAFETY: `p` is in bounds (checked) and aligned to its size: the
        // region starts 8-aligned and elements of size 1/2/4/8 follow at
        // multiples of their size. The bits come from writes of valid `T`s
        // or zero (`Shareable`), so they are a valid `T` of the same size.
        unsafe {
            match std::mem::size_of::<T>() {
                1 => {
                    std::mem::transmute_copy(&AtomicU8::from_ptr(p.cast()).load(Ordering::Acquire))
                }
                2 => {
                    std::mem::transmute_copy(&AtomicU16::from_ptr(p.cast()).load(Ordering::Acquire))
                }
                4 => {
                    std::mem::transmute_copy(&AtomicU32::from_ptr(p.cast()).load(Ordering::Acquire))
                }
                8 => {
                    std::mem::transmute_copy(&AtomicU64::from_ptr(p.cast()).load(Ordering::Acquire))
                }
                _ => unreachable!("checked at compile time by the callers"),
            }
        }
    }

    /// Atomic store of element `i` (`T` of 1, 2, 4 or 8 bytes).
    pub(crate) fn store(&self, i: usize, value: T) {
        assert!(i < self.len, "index out of bounds");
        let p = self.ptr().wrapping_add(i);
        // SAFETY: as in `load`; `T` has no padding (`Shareable`), so its
        // bytes are an initialized integer of the same size.
        unsafe {
            match std::mem::size_of::<T>() {
                1 => AtomicU8::from_ptr(p.cast())
                    .store(std::mem::transmute_copy(&value), Ordering::Release),
                2 => AtomicU16::from_ptr(p.cast())
                    .store(std::mem::transmute_copy(&value), Ordering::Release),
                4 => AtomicU32::from_ptr(p.cast())
                    .store(std::mem::transmute_copy(&value), Ordering::Release),
                8 => AtomicU64::from_ptr(p.cast())
                    .store(std::mem::transmute_copy(&value), Ordering::Release),
                _ => unreachable!("checked at compile time by the callers"),
            }
        }
    }

    /// Element `i`, copied with atomic chunks (see [`atomic_copy`]).
    pub(crate) fn read(&self, i: usize) -> T {
        let mut out = [std::mem::MaybeUninit::<T>::uninit()];
        self.copy_out_to(i, out.as_mut_ptr().cast(), 1);
        // SAFETY: `copy_out_to` wrote all bytes of the element (a `T` has no
        // padding), and any chunk mix of valid values is a valid `T`
        // (`Shareable`).
        unsafe { out[0].assume_init() }
    }

    /// Copies elements `start..start + dst.len()` out, in atomic chunks:
    /// race-free while others write, but then possibly a mix of old and
    /// new chunks (a valid `T` by the `Shareable` contract).
    pub(crate) fn copy_out(&self, start: usize, dst: &mut [T]) {
        self.copy_out_to(start, dst.as_mut_ptr(), dst.len());
    }

    /// All elements, copied as [`copy_out`](Self::copy_out) does.
    pub(crate) fn to_vec(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.len);
        self.copy_out_to(0, v.spare_capacity_mut().as_mut_ptr().cast(), self.len);
        // SAFETY: the copy initialised `len` elements (see `read`).
        unsafe { v.set_len(self.len) };
        v
    }

    fn copy_out_to(&self, start: usize, dst: *mut T, n: usize) {
        assert!(start.checked_add(n).is_some_and(|e| e <= self.len));
        // SAFETY: in bounds (checked), and aligned to the chunk size: the
        // region starts 8-aligned and elements follow at multiples of their
        // size, which the chunk divides. Outside a held lock, shared data
        // is only reached by these chunk copies and by `load`/`store`, which
        // use the same size (the chunk of a 1/2/4/8-byte `T` is its size);
        // references exist only under a held pinned lock, which excludes
        // the unlocked accessors (`RawValue`/`RawArray` have no lock, and
        // `Value`/`Array` reach their data only under it). `dst` is a
        // private buffer of `n` elements.
        unsafe { atomic_copy::read_elements(self.ptr().add(start), dst, n) }
    }

    /// Copies `src` in at element `start`, in atomic chunks.
    pub(crate) fn copy_in(&self, start: usize, src: &[T]) {
        assert!(start.checked_add(src.len()).is_some_and(|e| e <= self.len));
        // SAFETY: as in `copy_out_to`, the other way round.
        unsafe { atomic_copy::write_elements(src.as_ptr(), self.ptr().add(start), src.len()) }
    }
}

impl<T> Clone for DataRegion<T> {
    fn clone(&self) -> DataRegion<T> {
        DataRegion {
            seg: self.seg.clone(),
            offset: self.offset,
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for DataRegion<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataRegion")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

/// Exclusive access to a [`Value`](crate::Value)'s data: derefs to `T`.
///
/// Returned by [`Value::lock`](crate::Value::lock); the value's lock is
/// released when the guard drops. While it exists, every release by anyone
/// else is refused, so the `&mut T` really is exclusive.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ValueGuard<'a, T: Shareable> {
    pub(crate) guard: LockGuard<'a>,
    data: &'a DataRegion<T>,
}

impl<'a, T: Shareable> ValueGuard<'a, T> {
    /// Wraps a guard of the lock that protects `data`.
    ///
    /// # Panics
    ///
    /// If `data` is not one element.
    pub(crate) fn new(guard: LockGuard<'a>, data: &'a DataRegion<T>) -> ValueGuard<'a, T> {
        assert!(data.len() == 1);
        ValueGuard { guard, data }
    }
}

impl<T: Shareable> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the region is in bounds and aligned (checked by
        // `DataRegion::new`) and kept mapped by the value borrowed for the
        // guard's lifetime. The guard's hold of the value's lock is pinned:
        // every safe accessor of this data takes that lock (or checks a
        // guard's hold, `get_with`), and no release path but this guard's
        // own drop frees a pinned hold (`Lock::release` and
        // `release_if_held_by` refuse it, a guard releases only its own
        // acquisition, `Condition::wait` only its guard's); a takeover needs
        // the holder's process judged dead, and ours runs. So nothing else
        // reads or writes the data now.
        unsafe { &*self.data.ptr() }
    }
}

impl<T: Shareable> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // handed out by the guard.
        unsafe { &mut *self.data.ptr() }
    }
}

/// Exclusive access to an [`Array`](crate::Array)'s data: derefs to `[T]`.
///
/// Returned by [`Array::lock`](crate::Array::lock); the same rules as
/// [`ValueGuard`] apply.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ArrayGuard<'a, T: Shareable> {
    pub(crate) guard: LockGuard<'a>,
    data: &'a DataRegion<T>,
}

impl<'a, T: Shareable> ArrayGuard<'a, T> {
    /// Wraps a guard of the lock that protects `data`.
    pub(crate) fn new(guard: LockGuard<'a>, data: &'a DataRegion<T>) -> ArrayGuard<'a, T> {
        ArrayGuard { guard, data }
    }
}

impl<T: Shareable> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: as for `ValueGuard::deref`, for the whole region.
        unsafe { std::slice::from_raw_parts(self.data.ptr(), self.data.len()) }
    }
}

impl<T: Shareable> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `ValueGuard::deref_mut`, for the whole region.
        unsafe { std::slice::from_raw_parts_mut(self.data.ptr(), self.data.len()) }
    }
}

impl<T: Shareable> RawValue<T> {
    /// Reads the value with a plain (non-atomic) copy, for any size of `T`.
    ///
    /// # Safety
    ///
    /// No process may write the value during the read (for example, all
    /// writers are synchronised with this reader by a lock or an event);
    /// otherwise the result may mix bytes of two values — still a valid `T`
    /// by the [`Shareable`] contract, but not one anybody wrote.
    pub unsafe fn read(&self) -> T {
        let mut out = [std::mem::MaybeUninit::<T>::uninit()];
        // SAFETY: one element in bounds; the caller excludes writers.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data.ptr(), out[0].as_mut_ptr(), 1);
            out[0].assume_init()
        }
    }

    /// Writes the value with a plain (non-atomic) copy, for any size of `T`.
    ///
    /// # Safety
    ///
    /// No process may read or write the value at the same time (see
    /// [`read`](RawValue::read)).
    pub unsafe fn write(&self, value: T) {
        // SAFETY: one element in bounds; the caller excludes other accesses.
        unsafe { self.data.ptr().write(value) }
    }
}

impl<T: Shareable> RawArray<T> {
    /// The elements as a slice.
    ///
    /// # Safety
    ///
    /// No process may write the array while the slice is alive.
    pub unsafe fn as_slice(&self) -> &[T] {
        // SAFETY: in bounds and aligned (`DataRegion::new`); the caller
        // excludes writers for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(self.data.ptr(), self.data.len()) }
    }

    /// The elements as a mutable slice.
    ///
    /// # Safety
    ///
    /// No other process, thread or reference may read or write the array
    /// while the slice is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [T] {
        // SAFETY: in bounds and aligned; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.data.ptr(), self.data.len()) }
    }
}

impl SharedMemory {
    /// The segment's bytes (Python's `shm.buf`), without copying.
    ///
    /// # Safety
    ///
    /// No process may write the segment while the slice is alive (use
    /// [`read_at`](SharedMemory::read_at) otherwise). The slice covers the
    /// requested [`size`](SharedMemory::size).
    ///
    /// # Panics
    ///
    /// If the handle was closed.
    #[doc(alias = "buf")]
    pub unsafe fn as_slice(&self) -> &[u8] {
        let seg = self.mapped().expect("SharedMemory::as_slice after close");
        // SAFETY: the caller excludes writers; the mapping lives as long as `self`.
        unsafe { &seg.map().slice()[..self.size()] }
    }

    /// The segment's bytes, mutable and without copying.
    ///
    /// # Safety
    ///
    /// No other process, thread or reference may read or write the segment
    /// while the slice is alive.
    ///
    /// # Panics
    ///
    /// If the handle was closed.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        let seg = self
            .mapped()
            .expect("SharedMemory::as_mut_slice after close");
        // SAFETY: exclusivity is the caller's promise.
        unsafe { &mut seg.map().slice_mut()[..self.size()] }
    }
}
