//! `Array`: `len` elements of `T` in anonymous shared memory with a lock,
//! its leases, and the `Array('c', n)` views of an `Array<u8>`.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use mp_internal::Deadline;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AcquireError, Error, ErrorKind, LockResult, Result};
use crate::lease::{Leases, element_bytes};
use crate::lock::{Lock, LockGuard, forever};
use crate::object::Kind;
use crate::shared_data::{
    check_lock, create_data, deserialize_data, inline_lock, leases_of, out_of_range, serialize_data,
};
use crate::sys::Shareable;
use crate::sys::data::{ArrayGuard, DataRegion};
use crate::sys::leased::Lease;

/// An array of `T` in shared memory with its own lock (Python's
/// `Array(typecode, n_or_values)`; `Array('c', n)` is `Array<u8>`).
///
/// Share it by passing a clone. [`lock`](Array::lock) returns a guard that
/// derefs to `[T]`; [`get`](Array::get), [`set`](Array::set) and
/// [`to_vec`](Array::to_vec) lock for one access.
///
/// [`lease`](Array::lease) hands a range to one process, lock-free: the
/// lease derefs to `&mut [T]` and other processes lease other ranges
/// meanwhile (see [`Lease`]). The whole-array [`lock`](Array::lock) waits
/// until no lease lives (a lease is granted only while nobody holds the
/// lock); `get`, `set` and `to_vec` of leased elements are refused with
/// [`ErrorKind::Leased`].
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let a = ", crate::mp_crate!(shm), "::Array::from_slice(&[1.0f64, 2.0, 3.0])?;")]
/// a.lock()?.iter_mut().for_each(|x| *x *= 2.0);
/// assert_eq!(a.to_vec()?, [2.0, 4.0, 6.0]);
/// # Ok(())
/// # }
/// ```
pub struct Array<T: Shareable> {
    lock: Lock,
    data: DataRegion<T>,
    leases: Leases,
}

impl<T: Shareable> Array<T> {
    /// `len` zeroed elements with a new lock (Python's `Array('i', 10)`).
    pub fn zeroed(len: usize) -> Result<Array<T>> {
        let data = create_data::<T>(Kind::Array, len, true)?;
        Ok(Array {
            lock: inline_lock(data.segment()),
            leases: leases_of(&data)?,
            data,
        })
    }

    /// A copy of `values` with a new lock (Python's `Array('i', [1, 2])`).
    pub fn from_slice(values: &[T]) -> Result<Array<T>> {
        let a = Array::zeroed(values.len())?;
        a.data.copy_in(0, values);
        Ok(a)
    }

    /// A copy of `values` protected by `lock`.
    pub fn with_lock(values: &[T], lock: Lock) -> Result<Array<T>> {
        let data = create_data::<T>(Kind::Array, values.len(), false)?;
        data.copy_in(0, values);
        Ok(Array {
            lock,
            leases: leases_of(&data)?,
            data,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Takes the lock and returns a guard that derefs to the elements.
    ///
    /// It waits, holding the lock, until no lease of the array lives: a
    /// process that holds a lease and locks the whole array waits forever
    /// (use [`lock_timeout`](Array::lock_timeout)).
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        forever(self.lock_with(&Deadline::never()))
    }

    /// [`lock`](Array::lock), waiting at most `timeout`.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        self.lock_with(&Deadline::after(timeout))
    }

    /// [`lock`](Array::lock) only if the lock is free.
    pub fn try_lock(
        &self,
    ) -> std::result::Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        self.lock_with(&Deadline::after(Duration::ZERO))
    }

    fn lock_with(
        &self,
        deadline: &Deadline,
    ) -> std::result::Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        let held = self.lock.acquire_with(deadline);
        // No lease may live beside a whole-array guard; none is granted
        // while the lock is held (dropping `held` releases it).
        if !matches!(held, Err(AcquireError::Timeout)) && !self.leases.wait_none(deadline) {
            return Err(AcquireError::Timeout);
        }
        held.map(|g| ArrayGuard::new(g, &self.data))
            .map_err(|e| e.map(|g| ArrayGuard::new(g, &self.data)))
    }

    /// Leases elements `range` to this process: a `&mut [T]` of them
    /// without a lock, while other processes lease other ranges (see
    /// [`Lease`]). Waits while the range overlaps another lease, or while
    /// the array's lock is held.
    ///
    /// A range outside the array is [`ErrorKind::OutOfRange`]; more than
    /// 64 leases at once wait for one to end.
    pub fn lease(&self, range: Range<usize>) -> Result<Lease<'_, T>> {
        self.lease_by(range, &Deadline::never())
    }

    /// [`lease`](Array::lease), waiting at most `timeout`; then
    /// [`ErrorKind::Leased`] (or [`ErrorKind::TooManyLeases`]).
    pub fn lease_timeout(&self, range: Range<usize>, timeout: Duration) -> Result<Lease<'_, T>> {
        self.lease_by(range, &Deadline::after(timeout))
    }

    /// [`lease`](Array::lease) only if the range is free now, else
    /// [`ErrorKind::Leased`].
    pub fn try_lease(&self, range: Range<usize>) -> Result<Lease<'_, T>> {
        self.lease_by(range, &Deadline::after(Duration::ZERO))
    }

    fn lease_by(&self, range: Range<usize>, deadline: &Deadline) -> Result<Lease<'_, T>> {
        Lease::of_region(&self.data, &self.leases, range, deadline, Some(&self.lock))
    }

    /// The lock (Python's `get_lock()`).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// Checks, under the lock, that element `i` exists and is not leased.
    fn check_element(&self, i: usize) -> Result<()> {
        if i >= self.len() {
            return Err(out_of_range(i, self.len()));
        }
        self.leases.check_free(element_bytes::<T>(i..i + 1))
    }

    /// Element `i`, read under the lock (Python's `a[i]`); a leased
    /// element is [`ErrorKind::Leased`].
    pub fn get(&self, i: usize) -> Result<T> {
        let _held = self.lock.acquire()?;
        self.check_element(i)?;
        Ok(self.data.read(i))
    }

    /// Sets element `i` under the lock (Python's `a[i] = x`); a leased
    /// element is [`ErrorKind::Leased`].
    pub fn set(&self, i: usize, value: T) -> Result<()> {
        let _held = self.lock.acquire()?;
        self.check_element(i)?;
        self.data.copy_in(i, &[value]);
        Ok(())
    }

    /// A copy of all elements, taken under the lock (Python's `a[:]`;
    /// for `Array('c', n)` see also [`raw`](Array::raw)). While a lease
    /// lives it is [`ErrorKind::Leased`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let _held = self.lock.acquire()?;
        self.leases.check_free(element_bytes::<T>(0..self.len()))?;
        Ok(self.data.to_vec())
    }

    /// Element `i` while `guard` holds this array's lock.
    pub fn get_with(&self, guard: &LockGuard<'_>, i: usize) -> Result<T> {
        check_lock(guard, &self.lock)?;
        self.check_element(i)?;
        Ok(self.data.read(i))
    }

    /// Sets element `i` while `guard` holds this array's lock.
    pub fn set_with(&self, guard: &LockGuard<'_>, i: usize, value: T) -> Result<()> {
        check_lock(guard, &self.lock)?;
        self.check_element(i)?;
        self.data.copy_in(i, &[value]);
        Ok(())
    }
}

/// Bytes longer than the array (CPython's "byte string too long").
fn too_long(n: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::TooLong,
        format!("byte string of {n} bytes too long for an array of {len}"),
    )
}

/// `Array('c', n)`: an array of bytes used as a C string.
impl Array<u8> {
    /// The bytes before the first NUL, all of them if there is none
    /// (Python's `a.value`), read under the lock.
    ///
    /// The timeout form is [`lock_timeout`](Array::lock_timeout) and
    /// [`ArrayGuard::value`].
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
    #[doc = concat!("let name = ", crate::mp_crate!(shm), "::Array::<u8>::from_slice(b\"xxxxxxxx\")?;")]
    /// name.set_value(b"abc")?; // writes "abc" and a NUL
    /// assert_eq!(name.value()?, b"abc");
    /// assert_eq!(name.raw()?, b"abc\0xxxx");
    /// name.set_raw(b"AB")?; // leaves the rest
    /// assert_eq!(name.raw()?, b"ABc\0xxxx");
    /// assert_eq!(
    ///     name.set_value(b"too long!").unwrap_err().kind(),
    #[doc = concat!("    ", crate::mp_crate!(shm), "::ErrorKind::TooLong")]
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn value(&self) -> Result<Vec<u8>> {
        let mut bytes = self.to_vec()?;
        bytes.truncate(c_str_len(&bytes));
        Ok(bytes)
    }

    /// Writes `bytes` from the start and a NUL after them if there is room
    /// (Python's `a.value = b"..."`); longer than the array is
    /// [`ErrorKind::TooLong`], and nothing changes.
    pub fn set_value(&self, bytes: &[u8]) -> Result<()> {
        let len = self.len();
        if bytes.len() > len {
            return Err(too_long(bytes.len(), len));
        }
        let _held = self.lock.acquire()?;
        self.leases.check_free(0..(bytes.len() + 1).min(len))?;
        self.data.copy_in(0, bytes);
        if bytes.len() < len {
            self.data.copy_in(bytes.len(), &[0]);
        }
        Ok(())
    }

    /// All the bytes, NULs included (Python's `a.raw`).
    pub fn raw(&self) -> Result<Vec<u8>> {
        self.to_vec()
    }

    /// Writes `bytes` from the start and leaves the rest (Python's
    /// `a.raw = b"..."`); longer than the array is [`ErrorKind::TooLong`].
    pub fn set_raw(&self, bytes: &[u8]) -> Result<()> {
        let len = self.len();
        if bytes.len() > len {
            return Err(too_long(bytes.len(), len));
        }
        let _held = self.lock.acquire()?;
        self.leases.check_free(0..bytes.len())?;
        self.data.copy_in(0, bytes);
        Ok(())
    }
}

/// Bytes before the first NUL.
fn c_str_len(bytes: &[u8]) -> usize {
    bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())
}

/// `Array('c', n)` under a held lock: views, no copies.
impl ArrayGuard<'_, u8> {
    /// The bytes before the first NUL (Python's `a.value`).
    pub fn value(&self) -> &[u8] {
        &self[..c_str_len(self)]
    }

    /// All the bytes (Python's `a.raw`).
    pub fn raw(&self) -> &[u8] {
        self
    }

    /// [`Array::set_value`] under this guard.
    pub fn set_value(&mut self, bytes: &[u8]) -> Result<()> {
        let len = self.len();
        if bytes.len() > len {
            return Err(too_long(bytes.len(), len));
        }
        self[..bytes.len()].copy_from_slice(bytes);
        if let Some(nul) = self.get_mut(bytes.len()) {
            *nul = 0;
        }
        Ok(())
    }

    /// [`Array::set_raw`] under this guard.
    pub fn set_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let len = self.len();
        if bytes.len() > len {
            return Err(too_long(bytes.len(), len));
        }
        self[..bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

impl<T: Shareable> Clone for Array<T> {
    fn clone(&self) -> Array<T> {
        Array {
            lock: self.lock.clone(),
            data: self.data.clone(),
            leases: self.leases.clone(),
        }
    }
}

impl<T: Shareable> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len())
            .finish()
    }
}

impl<T: Shareable> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_data(&self.data, Some(&self.lock), s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Array<T>, D::Error> {
        let (data, lock) = deserialize_data::<T, D>(d, Kind::Array, true)?;
        Ok(Array {
            lock: lock.expect("checked"),
            leases: leases_of(&data).map_err(serde::de::Error::custom)?,
            data,
        })
    }
}

impl<T: Shareable> ArrayGuard<'_, T> {
    /// Declares the array repaired after an [`OwnerDied`](crate::OwnerDied).
    pub fn mark_consistent(&self) {
        self.guard.mark_consistent();
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&&**self).finish()
    }
}
