//! [`Lease`]: the `&mut [T]` a lease of shared data hands out.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Range};
use std::ptr::NonNull;

use mp_internal::Deadline;

use super::data::DataRegion;
use super::memory::Segment;
use super::shareable::Shareable;
use crate::error::{Error, ErrorKind, Result};
use crate::lease::{Leases, Ticket, element_bytes};
use crate::lock::Lock;
use crate::shared_data::check_span;

/// A range of an [`Array`](crate::Array), [`RawArray`](crate::RawArray) or
/// [`SharedMemory`](crate::SharedMemory) that this process holds alone,
/// without a lock: it derefs to `&mut [T]`, zero-copy.
///
/// Made by `lease`, `lease_timeout` or `try_lease` on those types. While it
/// lives, an overlapping lease from any process is refused (or waits),
/// and so is every other safe access to its bytes (copies, the array's
/// whole-array lock); see the crate docs. It ends when dropped, or when
/// its process dies (the next process that needs the range frees it).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("use ", crate::mp_crate!(shm), "::{ErrorKind, RawArray};")]
/// let a = RawArray::<f64>::zeroed(8)?;
/// let mut low = a.lease(0..4)?;
/// low.fill(1.5);
/// // Overlapping ranges are refused, disjoint ones granted.
/// assert_eq!(a.try_lease(2..6).unwrap_err().kind(), ErrorKind::Leased);
/// a.lease(4..8)?.fill(2.5);
/// drop(low);
/// assert_eq!(a.to_vec()?, [1.5, 1.5, 1.5, 1.5, 2.5, 2.5, 2.5, 2.5]);
/// # Ok(())
/// # }
/// ```
#[must_use = "the lease ends when it is dropped"]
pub struct Lease<'a, T: Shareable> {
    leases: &'a Leases,
    /// `None` for an empty range (nothing to hold).
    ticket: Option<Ticket>,
    ptr: NonNull<T>,
    len: usize,
    /// Byte offset of the first element in the object's data.
    offset: usize,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: a lease is a `&mut [T]` plus the right to end its entry, which
// belongs to its process, not to a thread (any thread may use or drop it).
unsafe impl<T: Shareable> Send for Lease<'_, T> {}
// SAFETY: `&Lease` only gives `&[T]`, and `T: Sync` (`Shareable`).
unsafe impl<T: Shareable> Sync for Lease<'_, T> {}

impl<'a, T: Shareable> Lease<'a, T> {
    /// Leases elements `range` of `region`, whose leases are `leases`
    /// (`lock`: the array's lock, if it has one).
    pub(crate) fn of_region(
        region: &'a DataRegion<T>,
        leases: &'a Leases,
        range: Range<usize>,
        deadline: &Deadline,
        lock: Option<&Lock>,
    ) -> Result<Lease<'a, T>> {
        let len = range.end.checked_sub(range.start).ok_or_else(|| {
            Error::new(
                ErrorKind::OutOfRange,
                format!("{range:?} is not a range (it ends before it starts)"),
            )
        })?;
        check_span(range.start, len, region.len())?;
        let ptr = region.ptr().wrapping_add(range.start);
        let bytes = element_bytes::<T>(range);
        Lease::make(leases, bytes, ptr, len, deadline, lock)
    }

    /// Leases `len` elements of `T` at byte `offset` of a named segment
    /// whose first `size` bytes are the user's.
    pub(crate) fn of_bytes(
        seg: &'a Segment,
        size: usize,
        leases: &'a Leases,
        offset: usize,
        len: usize,
        deadline: &Deadline,
    ) -> Result<Lease<'a, T>> {
        let base = seg.map().as_ptr();
        if (base as usize).wrapping_add(offset) % std::mem::align_of::<T>() != 0 {
            return Err(Error::new(
                ErrorKind::Misaligned,
                format!(
                    "byte offset {offset} is not a multiple of the alignment of {} ({})",
                    std::any::type_name::<T>(),
                    std::mem::align_of::<T>()
                ),
            ));
        }
        let end = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(offset))
            .filter(|end| *end <= size.min(seg.map().len()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::OutOfRange,
                    format!("{len} elements at byte {offset} do not fit {size} bytes"),
                )
            })?;
        let ptr = base.wrapping_add(offset).cast::<T>();
        Lease::make(leases, offset..end, ptr, len, deadline, None)
    }

    fn make(
        leases: &'a Leases,
        bytes: Range<usize>,
        ptr: *mut T,
        len: usize,
        deadline: &Deadline,
        lock: Option<&Lock>,
    ) -> Result<Lease<'a, T>> {
        let (ticket, ptr) = if bytes.is_empty() {
            (None, NonNull::dangling())
        } else {
            let ticket = leases.acquire(bytes.clone(), deadline, lock)?;
            (Some(ticket), NonNull::new(ptr).expect("inside a mapping"))
        };
        Ok(Lease {
            leases,
            ticket,
            ptr,
            len,
            offset: bytes.start,
            _data: PhantomData,
        })
    }

    /// The byte offset of the first leased element in the array's data
    /// (element `i` of an array is at `i * size_of::<T>()`) or in the
    /// segment.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<T: Shareable> Deref for Lease<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr..ptr + len` lies in a mapping that the borrowed
        // handle keeps alive for 'a (checked in bounds, aligned for `T`:
        // region elements, or an offset checked above), and holds valid
        // `T`s (`Shareable`: any bytes written by valid values, or zero).
        // The ticket's entry covers these bytes, and while it lives no one
        // else touches them: an overlapping lease is refused; copies
        // without a lock either saw the entry (and refuse the range) or
        // were in flight before it and were waited for (`Leases::drain`,
        // Dekker's protocol); an array's guard is only made with no lease
        // alive, and its leases are granted under its lock; one-element
        // accesses check the table. The entry is freed only by this
        // lease's drop, or by a process that judged ours dead, which it is
        // not while this runs. An empty lease is a dangling, empty slice.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Shareable> DerefMut for Lease<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Shareable> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        if let Some(ticket) = &self.ticket {
            self.leases.release(ticket);
        }
    }
}

impl<T: Shareable> std::fmt::Debug for Lease<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("type", &std::any::type_name::<T>())
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}
