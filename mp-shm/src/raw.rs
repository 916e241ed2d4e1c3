//! `RawValue` and `RawArray`: plain data in anonymous shared memory without
//! a lock, reached by atomic element accesses and race-free atomic copies.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use mp_internal::Deadline;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Result;
use crate::lease::{Leases, element_bytes};
use crate::object::Kind;
use crate::shared_data::{
    atomic_size, check_span, create_data, deserialize_data, leases_of, out_of_range, serialize_data,
};
use crate::sys::Shareable;
use crate::sys::data::DataRegion;
use crate::sys::leased::Lease;

/// A `T` in shared memory without a lock (Python's `RawValue`, or
/// `Value(.., lock=False)`).
///
/// [`load`](RawValue::load) and [`store`](RawValue::store) are atomic (for
/// `T` of 1, 2, 4 or 8 bytes, checked at compile time); other sizes use the
/// `unsafe` [`read`](RawValue::read)/[`write`](RawValue::write). Share it
/// by passing a clone.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let flag = ", crate::mp_crate!(shm), "::RawValue::new(0u32)?;")]
/// flag.store(7);
/// assert_eq!(flag.load(), 7);
/// # Ok(())
/// # }
/// ```
pub struct RawValue<T: Shareable> {
    pub(crate) data: DataRegion<T>,
}

impl<T: Shareable> RawValue<T> {
    /// A new shared value set to `value`.
    pub fn new(value: T) -> Result<RawValue<T>> {
        let data = create_data::<T>(Kind::RawValue, 1, false)?;
        data.copy_in(0, &[value]);
        Ok(RawValue { data })
    }

    /// Atomic read.
    pub fn load(&self) -> T {
        atomic_size::<T>();
        self.data.load(0)
    }

    /// Atomic write.
    pub fn store(&self, value: T) {
        atomic_size::<T>();
        self.data.store(0, value)
    }

    /// The address of the value in this process (never dereferenced here).
    pub fn as_ptr(&self) -> *mut T {
        self.data
            .segment()
            .map()
            .as_ptr()
            .wrapping_add(self.data.offset())
            .cast()
    }
}

impl<T: Shareable> Clone for RawValue<T> {
    fn clone(&self) -> RawValue<T> {
        RawValue {
            data: self.data.clone(),
        }
    }
}

impl<T: Shareable> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Shareable> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_data(&self.data, None, s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<RawValue<T>, D::Error> {
        let (data, _) = deserialize_data::<T, D>(d, Kind::RawValue, false)?;
        if data.len() != 1 {
            return Err(serde::de::Error::custom("not a single value"));
        }
        Ok(RawValue { data })
    }
}

/// An array of `T` in shared memory without a lock (Python's `RawArray`).
///
/// [`load`](RawArray::load)/[`store`](RawArray::store) are atomic per
/// element (for `T` of 1, 2, 4 or 8 bytes); [`read_into`](RawArray::read_into),
/// [`write_from`](RawArray::write_from) and [`to_vec`](RawArray::to_vec) copy
/// many elements at once, as a run of atomic accesses (each element in
/// chunks of the largest power of two up to 8 bytes that divides its size).
/// They are race-free while another process writes, but then may see a mix
/// of old and new chunks (a valid `T`, see [`Shareable`]). Use
/// [`Array`](crate::Array) when you need a consistent view.
///
/// [`lease`](RawArray::lease) hands a range to one process as `&mut [T]`,
/// zero-copy and lock-free (see [`Lease`]): the way to fill a large array
/// from several processes, each its own slice. Every access above to a
/// leased element, from any process, is refused with
/// [`ErrorKind::Leased`](crate::ErrorKind::Leased) while the lease lives.
pub struct RawArray<T: Shareable> {
    pub(crate) data: DataRegion<T>,
    leases: Leases,
}

impl<T: Shareable> RawArray<T> {
    /// `len` zeroed elements (Python's `RawArray('i', 10)`).
    pub fn zeroed(len: usize) -> Result<RawArray<T>> {
        let data = create_data::<T>(Kind::RawArray, len, false)?;
        Ok(RawArray {
            leases: leases_of(&data)?,
            data,
        })
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Result<RawArray<T>> {
        let a = RawArray::zeroed(values.len())?;
        a.data.copy_in(0, values);
        Ok(a)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Atomic read of element `i`.
    pub fn load(&self, i: usize) -> Result<T> {
        atomic_size::<T>();
        if i >= self.len() {
            return Err(out_of_range(i, self.len()));
        }
        self.leases
            .access(element_bytes::<T>(i..i + 1), || self.data.load(i))
    }

    /// Atomic write of element `i`.
    pub fn store(&self, i: usize, value: T) -> Result<()> {
        atomic_size::<T>();
        if i >= self.len() {
            return Err(out_of_range(i, self.len()));
        }
        self.leases
            .access(element_bytes::<T>(i..i + 1), || self.data.store(i, value))
    }

    /// Copies elements `start..start + dst.len()` into `dst`.
    pub fn read_into(&self, start: usize, dst: &mut [T]) -> Result<()> {
        check_span(start, dst.len(), self.len())?;
        self.leases
            .access(element_bytes::<T>(start..start + dst.len()), || {
                self.data.copy_out(start, dst)
            })
    }

    /// Copies `src` into elements `start..start + src.len()`.
    pub fn write_from(&self, start: usize, src: &[T]) -> Result<()> {
        check_span(start, src.len(), self.len())?;
        self.leases
            .access(element_bytes::<T>(start..start + src.len()), || {
                self.data.copy_in(start, src)
            })
    }

    /// A copy of all elements ([`ErrorKind::Leased`](crate::ErrorKind::Leased)
    /// while a lease lives).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.leases
            .access(element_bytes::<T>(0..self.len()), || self.data.to_vec())
    }

    /// Leases elements `range` to this process: a `&mut [T]` of them,
    /// zero-copy and lock-free, while other processes lease and copy
    /// other ranges (see [`Lease`]). Waits while the range overlaps
    /// another lease, or copies of it are in flight.
    ///
    /// A range outside the array is
    /// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange); more than
    /// 64 leases at once wait for one to end.
    pub fn lease(&self, range: Range<usize>) -> Result<Lease<'_, T>> {
        self.lease_by(range, &Deadline::never())
    }

    /// [`lease`](RawArray::lease), waiting at most `timeout`; then
    /// [`ErrorKind::Leased`](crate::ErrorKind::Leased) (or
    /// [`ErrorKind::TooManyLeases`](crate::ErrorKind::TooManyLeases)).
    pub fn lease_timeout(&self, range: Range<usize>, timeout: Duration) -> Result<Lease<'_, T>> {
        self.lease_by(range, &Deadline::after(timeout))
    }

    /// [`lease`](RawArray::lease) only if the range is free now, else
    /// [`ErrorKind::Leased`](crate::ErrorKind::Leased).
    pub fn try_lease(&self, range: Range<usize>) -> Result<Lease<'_, T>> {
        self.lease_by(range, &Deadline::after(Duration::ZERO))
    }

    fn lease_by(&self, range: Range<usize>, deadline: &Deadline) -> Result<Lease<'_, T>> {
        Lease::of_region(&self.data, &self.leases, range, deadline, None)
    }

    /// The address of the first element in this process.
    pub fn as_ptr(&self) -> *mut T {
        self.data
            .segment()
            .map()
            .as_ptr()
            .wrapping_add(self.data.offset())
            .cast()
    }
}

impl<T: Shareable> Clone for RawArray<T> {
    fn clone(&self) -> RawArray<T> {
        RawArray {
            data: self.data.clone(),
            leases: self.leases.clone(),
        }
    }
}

impl<T: Shareable> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len())
            .finish()
    }
}

impl<T: Shareable> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_data(&self.data, None, s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<RawArray<T>, D::Error> {
        let (data, _) = deserialize_data::<T, D>(d, Kind::RawArray, false)?;
        Ok(RawArray {
            leases: leases_of(&data).map_err(serde::de::Error::custom)?,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::RawArray;
    use crate::error::ErrorKind;

    /// A lease is not granted while a copy of its range is in flight (the
    /// copy was counted before the lease existed, and did not see it).
    #[test]
    fn a_lease_waits_for_copies_in_flight() {
        let _d = mp_testkit::deadline(Duration::from_secs(60));
        let a = RawArray::<u64>::zeroed(8).unwrap();
        let (inside_tx, inside_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let copier = {
            let a = a.clone();
            std::thread::spawn(move || {
                a.leases
                    .access(0..64, || {
                        inside_tx.send(()).unwrap();
                        leave_rx.recv().unwrap();
                    })
                    .unwrap()
            })
        };
        inside_rx.recv().unwrap();
        let kind = |r: crate::Result<crate::Lease<'_, u64>>| r.unwrap_err().kind();
        assert_eq!(kind(a.try_lease(0..8)), ErrorKind::Leased);
        assert_eq!(
            kind(a.lease_timeout(4..5, Duration::from_millis(50))),
            ErrorKind::Leased
        );
        // Refused leases left nothing behind: copies take the fast path.
        assert!(!a.leases.any());
        let waiter = {
            let a = a.clone();
            std::thread::spawn(move || a.lease_timeout(0..8, Duration::from_secs(30)).is_ok())
        };
        leave_tx.send(()).unwrap();
        copier.join().unwrap();
        assert!(waiter.join().unwrap());
    }
}
