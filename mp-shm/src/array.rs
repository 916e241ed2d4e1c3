//! `Array`: `len` elements of `T` in anonymous shared memory with a lock.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AcquireError, LockResult, Result};
use crate::lock::{Lock, LockGuard, forever};
use crate::object::Kind;
use crate::raw_lock::Wait;
use crate::shared_data::{
    check_lock, create_data, deserialize_data, inline_lock, out_of_range, serialize_data,
};
use crate::sys::Shareable;
use crate::sys::data::{ArrayGuard, DataRegion};

/// An array of `T` in shared memory with its own lock (Python's
/// `Array(typecode, n_or_values)`; `Array('c', n)` is `Array<u8>`).
///
/// Share it by passing a clone. [`lock`](Array::lock) returns a guard that
/// derefs to `[T]`; [`get`](Array::get), [`set`](Array::set) and
/// [`to_vec`](Array::to_vec) lock for one access.
///
/// ```
/// # fn main() -> Result<(), mp_shm::Error> {
/// let a = mp_shm::Array::from_slice(&[1.0f64, 2.0, 3.0])?;
/// a.lock()?.iter_mut().for_each(|x| *x *= 2.0);
/// assert_eq!(a.to_vec()?, [2.0, 4.0, 6.0]);
/// # Ok(())
/// # }
/// ```
pub struct Array<T: Shareable> {
    lock: Lock,
    data: DataRegion<T>,
}

impl<T: Shareable> Array<T> {
    /// `len` zeroed elements with a new lock (Python's `Array('i', 10)`).
    pub fn zeroed(len: usize) -> Result<Array<T>> {
        let data = create_data::<T>(Kind::Array, len, true)?;
        Ok(Array {
            lock: inline_lock(data.segment()),
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
        Ok(Array { lock, data })
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
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        forever(self.lock_with(Wait::Forever))
    }

    /// [`lock`](Array::lock), waiting at most `timeout`.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        self.lock_with(Wait::timeout(timeout))
    }

    /// [`lock`](Array::lock) only if the lock is free.
    pub fn try_lock(
        &self,
    ) -> std::result::Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        self.lock_with(Wait::Never)
    }

    fn lock_with(
        &self,
        wait: Wait,
    ) -> std::result::Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        self.lock
            .acquire_with(wait)
            .map(|g| ArrayGuard::new(g, &self.data))
            .map_err(|e| e.map(|g| ArrayGuard::new(g, &self.data)))
    }

    /// The lock (Python's `get_lock()`).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// Element `i`, read under the lock (Python's `a[i]`).
    pub fn get(&self, i: usize) -> Result<T> {
        let g = self.lock()?;
        g.get(i).copied().ok_or_else(|| out_of_range(i, self.len()))
    }

    /// Sets element `i` under the lock (Python's `a[i] = x`).
    pub fn set(&self, i: usize, value: T) -> Result<()> {
        let mut g = self.lock()?;
        let len = g.len();
        *g.get_mut(i).ok_or_else(|| out_of_range(i, len))? = value;
        Ok(())
    }

    /// A copy of all elements, taken under the lock (Python's `a[:]`;
    /// for `Array('c', n)` the exact bytes, Python's `a.raw`).
    #[doc(alias = "raw")]
    pub fn to_vec(&self) -> Result<Vec<T>> {
        Ok(self.lock()?.to_vec())
    }

    /// Element `i` while `guard` holds this array's lock.
    pub fn get_with(&self, guard: &LockGuard<'_>, i: usize) -> Result<T> {
        check_lock(guard, &self.lock)?;
        if i >= self.len() {
            return Err(out_of_range(i, self.len()));
        }
        Ok(self.data.read(i))
    }

    /// Sets element `i` while `guard` holds this array's lock.
    pub fn set_with(&self, guard: &LockGuard<'_>, i: usize, value: T) -> Result<()> {
        check_lock(guard, &self.lock)?;
        if i >= self.len() {
            return Err(out_of_range(i, self.len()));
        }
        self.data.copy_in(i, &[value]);
        Ok(())
    }
}

impl<T: Shareable> Clone for Array<T> {
    fn clone(&self) -> Array<T> {
        Array {
            lock: self.lock.clone(),
            data: self.data.clone(),
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
