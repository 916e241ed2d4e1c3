//! `Value`: one `T` in anonymous shared memory (a sealed memfd) with a lock.

use std::fmt;
use std::time::Duration;

use mp_internal::Deadline;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AcquireError, LockResult, Result};
use crate::lock::{Lock, LockGuard, forever};
use crate::object::Kind;
use crate::shared_data::{check_lock, create_data, deserialize_data, inline_lock, serialize_data};
use crate::sys::Shareable;
use crate::sys::data::{DataRegion, ValueGuard};

/// A `T` in shared memory with its own lock (Python's `Value(typecode, v)`).
///
/// Share it with a child by passing a clone (`Process::new(f, (v.clone(),))`):
/// every clone is the same memory. [`lock`](Value::lock) returns a guard
/// that derefs to `T` (Python's `with v.get_lock(): v.value += 1` is
/// `*v.lock()? += 1`); [`value`](Value::value) and
/// [`set_value`](Value::set_value) lock for one read or write. If a process
/// dies holding the lock, the next `lock()` returns [`OwnerDied`](crate::OwnerDied).
///
/// The lock is a [`Lock`] (not recursive: a guard hands out `&mut T`, which
/// must be exclusive). [`with_lock`](Value::with_lock) shares an existing one,
/// like Python's `Value('i', 0, lock=lock)`; without a lock, use [`RawValue`](crate::RawValue).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let counter = ", crate::mp_crate!(shm), "::Value::new(0i64)?;")]
/// *counter.lock()? += 1;
/// assert_eq!(counter.value()?, 1);
/// # Ok(())
/// # }
/// ```
pub struct Value<T: Shareable> {
    lock: Lock,
    data: DataRegion<T>,
}

impl<T: Shareable> Value<T> {
    /// A new shared value set to `value`, with a new lock.
    pub fn new(value: T) -> Result<Value<T>> {
        let data = create_data::<T>(Kind::Value, 1, true)?;
        data.copy_in(0, &[value]);
        Ok(Value {
            lock: inline_lock(data.segment()),
            data,
        })
    }

    /// A new shared value set to `value`, protected by `lock` (which other
    /// values or conditions may share).
    pub fn with_lock(value: T, lock: Lock) -> Result<Value<T>> {
        let data = create_data::<T>(Kind::Value, 1, false)?;
        data.copy_in(0, &[value]);
        Ok(Value { lock, data })
    }

    /// Takes the lock and returns a guard that derefs to the value.
    pub fn lock(&self) -> LockResult<ValueGuard<'_, T>> {
        forever(self.lock_with(&Deadline::never()))
    }

    /// [`lock`](Value::lock), waiting at most `timeout`.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        self.lock_with(&Deadline::after(timeout))
    }

    /// [`lock`](Value::lock) only if the lock is free.
    pub fn try_lock(
        &self,
    ) -> std::result::Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        self.lock_with(&Deadline::after(Duration::ZERO))
    }

    fn lock_with(
        &self,
        deadline: &Deadline,
    ) -> std::result::Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        self.lock
            .acquire_with(deadline)
            .map(|g| ValueGuard::new(g, &self.data))
            .map_err(|e| e.map(|g| ValueGuard::new(g, &self.data)))
    }

    /// The lock (Python's `get_lock()`): to share it with another value or a
    /// [`Condition`](crate::Condition).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// Reads the value under its lock (Python's `v.value`).
    ///
    /// A dead previous holder is [`ErrorKind::OwnerDied`](crate::ErrorKind::OwnerDied); recover with
    /// [`lock`](Value::lock).
    pub fn value(&self) -> Result<T> {
        Ok(*self.lock()?)
    }

    /// Writes the value under its lock (Python's `v.value = x`).
    pub fn set_value(&self, value: T) -> Result<()> {
        *self.lock()? = value;
        Ok(())
    }

    /// Reads the value while `guard` holds this value's lock (for a lock
    /// shared by several values or a condition). Another lock is
    /// [`ErrorKind::LockNotHeld`](crate::ErrorKind::LockNotHeld).
    pub fn get_with(&self, guard: &LockGuard<'_>) -> Result<T> {
        check_lock(guard, &self.lock)?;
        Ok(self.data.read(0))
    }

    /// Writes the value while `guard` holds this value's lock.
    pub fn set_with(&self, guard: &LockGuard<'_>, value: T) -> Result<()> {
        check_lock(guard, &self.lock)?;
        self.data.copy_in(0, &[value]);
        Ok(())
    }
}

impl<T: Shareable> Clone for Value<T> {
    fn clone(&self) -> Value<T> {
        Value {
            lock: self.lock.clone(),
            data: self.data.clone(),
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Value");
        match self.lock_timeout(Duration::ZERO) {
            Ok(g) => d.field("value", &*g),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: Shareable> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_data(&self.data, Some(&self.lock), s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Value<T>, D::Error> {
        let (data, lock) = deserialize_data::<T, D>(d, Kind::Value, true)?;
        Ok(Value {
            lock: lock.expect("checked"),
            data,
        })
    }
}

impl<T: Shareable> ValueGuard<'_, T> {
    /// Declares the value repaired after an [`OwnerDied`](crate::OwnerDied).
    pub fn mark_consistent(&self) {
        self.guard.mark_consistent();
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}
