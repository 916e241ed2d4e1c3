//! `RawValue` and `RawArray`: plain data in anonymous shared memory without
//! a lock, reached by atomic element accesses and race-free atomic copies.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Result;
use crate::object::Kind;
use crate::shared_data::{
    atomic_size, check_span, create_data, deserialize_data, out_of_range, serialize_data,
};
use crate::sys::Shareable;
use crate::sys::data::DataRegion;

/// A `T` in shared memory without a lock (Python's `RawValue`, or
/// `Value(.., lock=False)`).
///
/// [`load`](RawValue::load) and [`store`](RawValue::store) are atomic (for
/// `T` of 1, 2, 4 or 8 bytes, checked at compile time); other sizes use the
/// `unsafe` [`read`](RawValue::read)/[`write`](RawValue::write). Share it
/// by passing a clone.
///
/// ```
/// # fn main() -> Result<(), mp_shm::Error> {
/// let flag = mp_shm::RawValue::new(0u32)?;
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
pub struct RawArray<T: Shareable> {
    pub(crate) data: DataRegion<T>,
}

impl<T: Shareable> RawArray<T> {
    /// `len` zeroed elements (Python's `RawArray('i', 10)`).
    pub fn zeroed(len: usize) -> Result<RawArray<T>> {
        Ok(RawArray {
            data: create_data::<T>(Kind::RawArray, len, false)?,
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
        Ok(self.data.load(i))
    }

    /// Atomic write of element `i`.
    pub fn store(&self, i: usize, value: T) -> Result<()> {
        atomic_size::<T>();
        if i >= self.len() {
            return Err(out_of_range(i, self.len()));
        }
        self.data.store(i, value);
        Ok(())
    }

    /// Copies elements `start..start + dst.len()` into `dst`.
    pub fn read_into(&self, start: usize, dst: &mut [T]) -> Result<()> {
        check_span(start, dst.len(), self.len())?;
        self.data.copy_out(start, dst);
        Ok(())
    }

    /// Copies `src` into elements `start..start + src.len()`.
    pub fn write_from(&self, start: usize, src: &[T]) -> Result<()> {
        check_span(start, src.len(), self.len())?;
        self.data.copy_in(start, src);
        Ok(())
    }

    /// A copy of all elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.data.to_vec()
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
        Ok(RawArray { data })
    }
}
