//! `Value`, `Array`, `RawValue`, `RawArray`: plain data in anonymous shared
//! memory (a sealed memfd), with or without a lock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AcquireError, Error, ErrorKind, LockResult, Result};
use crate::lock::{Lock, LockGuard, forever};
use crate::object::{self, Kind};
use crate::raw_lock::Wait;
use crate::sys::Shareable;
use crate::sys::data::{ArrayGuard, DataRegion, ValueGuard};
use crate::sys::layout::{DataHeader, LockState};
use crate::sys::memory::{Segment, View};

const LOCK_OFFSET: usize = 64;

fn data_offset<T>() -> usize {
    std::mem::align_of::<T>().max(128)
}

/// A stable fingerprint of `T` within one program (all processes of an mp
/// program run the same binary).
fn type_hash<T>() -> u64 {
    std::any::type_name::<T>()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// A new data segment of `len` elements (plus an inline lock if asked).
fn create_data<T: Shareable>(kind: Kind, len: usize, inline_lock: bool) -> Result<DataRegion<T>> {
    let bytes = std::mem::size_of::<T>()
        .checked_mul(len)
        .and_then(|b| b.checked_add(data_offset::<T>()))
        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "array too large"))?;
    let header = object::create::<DataHeader>(kind, bytes)?;
    let h = header.get();
    h.type_hash.store(type_hash::<T>(), Ordering::Relaxed);
    h.elem_size
        .store(std::mem::size_of::<T>() as u64, Ordering::Relaxed);
    h.elem_align
        .store(std::mem::align_of::<T>() as u64, Ordering::Relaxed);
    h.len.store(len as u64, Ordering::Release);
    let seg = header.segment().clone();
    if inline_lock {
        let lock = View::<LockState>::new(seg.clone(), LOCK_OFFSET).expect("room for the lock");
        lock.get().tag.store(Kind::Lock.tag(), Ordering::Release);
    }
    Ok(DataRegion::new(seg, data_offset::<T>(), len).expect("the segment was sized for the data"))
}

/// The data region of a received segment, checked against `T` and `kind`.
fn attach_data<T: Shareable>(
    seg: Arc<Segment>,
    offset: usize,
    kind: Kind,
) -> Result<DataRegion<T>> {
    let header = object::view::<DataHeader>(seg, offset, kind)?;
    let h = header.get();
    let (hash, size, align) = (
        h.type_hash.load(Ordering::Relaxed),
        h.elem_size.load(Ordering::Relaxed),
        h.elem_align.load(Ordering::Relaxed),
    );
    if hash != type_hash::<T>()
        || size != std::mem::size_of::<T>() as u64
        || align != std::mem::align_of::<T>() as u64
    {
        return Err(Error::new(
            ErrorKind::WrongType,
            format!(
                "shared data of {size}-byte elements is not a {kind:?} of {}",
                std::any::type_name::<T>()
            ),
        ));
    }
    let len = usize::try_from(h.len.load(Ordering::Acquire))
        .map_err(|_| Error::new(ErrorKind::WrongType, "bad length"))?;
    DataRegion::new(header.segment().clone(), data_offset::<T>(), len)
        .ok_or_else(|| Error::new(ErrorKind::WrongType, "shared data larger than its segment"))
}

fn inline_lock(region_seg: &Arc<Segment>) -> Lock {
    Lock::from_view(View::new(region_seg.clone(), LOCK_OFFSET).expect("room for the lock"))
}

fn check_lock(guard: &LockGuard<'_>, lock: &Lock) -> Result<()> {
    if guard.lock().same_as(lock) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::LockNotHeld,
            "the guard holds another lock than this object's",
        ))
    }
}

fn out_of_range(i: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::OutOfRange,
        format!("index {i} out of range for length {len}"),
    )
}

fn check_span(start: usize, n: usize, len: usize) -> Result<()> {
    if start.checked_add(n).is_some_and(|end| end <= len) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "elements {start}..{} out of range for length {len}",
                start.saturating_add(n)
            ),
        ))
    }
}

#[derive(Serialize)]
struct WireRef<'a> {
    #[serde(serialize_with = "ser_region")]
    data: (&'a Arc<Segment>, usize),
    lock: Option<&'a Lock>,
}

fn ser_region<S: Serializer>(
    r: &(&Arc<Segment>, usize),
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    object::serialize_place(r.0, r.1, s)
}

struct Place(Arc<Segment>, usize);

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Place, D::Error> {
        object::deserialize_place(d).map(|(s, o)| Place(s, o))
    }
}

#[derive(Deserialize)]
struct WireOwned {
    data: Place,
    lock: Option<Lock>,
}

fn serialize_data<T: Shareable, S: Serializer>(
    data: &DataRegion<T>,
    lock: Option<&Lock>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    WireRef {
        data: (data.segment(), 0),
        lock,
    }
    .serialize(s)
}

fn deserialize_data<'de, T: Shareable, D: Deserializer<'de>>(
    d: D,
    kind: Kind,
    locked: bool,
) -> std::result::Result<(DataRegion<T>, Option<Lock>), D::Error> {
    use serde::de::Error as _;
    let wire = WireOwned::deserialize(d)?;
    if wire.lock.is_some() != locked {
        return Err(D::Error::custom(format!("not a shared {kind:?}")));
    }
    let region = attach_data::<T>(wire.data.0, wire.data.1, kind).map_err(D::Error::custom)?;
    Ok((region, wire.lock))
}

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
/// like Python's `Value('i', 0, lock=lock)`; without a lock, use [`RawValue`].
///
/// ```
/// # fn main() -> Result<(), mp_shm::Error> {
/// let counter = mp_shm::Value::new(0i64)?;
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
        forever(self.lock_with(Wait::Forever))
    }

    /// [`lock`](Value::lock), waiting at most `timeout`.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        self.lock_with(Wait::timeout(timeout))
    }

    /// [`lock`](Value::lock) only if the lock is free.
    pub fn try_lock(
        &self,
    ) -> std::result::Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        self.lock_with(Wait::Never)
    }

    fn lock_with(
        &self,
        wait: Wait,
    ) -> std::result::Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        self.lock
            .acquire_with(true, wait)
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
    /// A dead previous holder is [`ErrorKind::OwnerDied`]; recover with
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
    /// [`ErrorKind::LockNotHeld`].
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
            .acquire_with(true, wait)
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

fn atomic_size<T>() {
    const {
        assert!(
            matches!(std::mem::size_of::<T>(), 1 | 2 | 4 | 8),
            "atomic access needs a type of 1, 2, 4 or 8 bytes; use the unsafe accessors"
        )
    };
}

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
/// many elements at once and, if another process writes at the same time,
/// may see a mix of old and new data (never undefined behaviour: every mix
/// is a valid `T`, see [`Shareable`]). Use [`Array`] when you need a
/// consistent view.
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
        (0..self.len()).map(|i| self.data.read(i)).collect()
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
