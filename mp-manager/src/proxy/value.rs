//! [`ValueProxy`] and [`ArrayProxy`]: a value and a fixed-length array on
//! the server (Python's `manager.Value()` and `manager.Array()`).

use std::borrow::Borrow;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::number::{Number, arith};
use crate::object_ref::{
    ObjectRef, decode_exact, decode_item, decode_items, decode_with, encode_item, encode_key,
    proxy_plumbing, unexpected,
};
use crate::proxy::{boolean, count, to_usize, unit};
use crate::wire::{Answer, NumOp, Op};

/// One value on the manager's server (Python's `manager.Value(typecode,
/// value)`, whose `.value` is [`get`](ValueProxy::get) /
/// [`set`](ValueProxy::set)).
///
/// `v.value += 1` from several processes races in Python (read, then
/// write); here [`fetch_add`](ValueProxy::fetch_add) does it on the server
/// in one step, and [`update_with`](ValueProxy::update_with) does any
/// read-modify-write atomically.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let counter = manager.value(&0i64)?;
/// assert_eq!(counter.fetch_add(5)?, 0);
/// counter.update_with(|v| *v *= 3)?;
/// assert_eq!(counter.get()?, 15);
/// # Ok(())
/// # }
/// ```
pub struct ValueProxy<T> {
    object: ObjectRef,
    _types: PhantomData<fn() -> T>,
}

proxy_plumbing!(ValueProxy<T>, [Value]);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// A copy of the value (Python's `v.value`).
    #[doc(alias = "value")]
    pub fn get(&self) -> Result<T> {
        match self.object.op(Op::ValGet)? {
            (pool, Answer::Item(item)) => decode_item(&pool, item),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Replaces the value (Python's `v.value = x`).
    pub fn set<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let item = encode_item(&pool, value)?;
        unit(self.object.op_on(&pool, Op::ValSet(item))?)
    }

    /// Replaces the value and returns the old one, atomically.
    pub fn swap<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<T>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let item = encode_item(&pool, value)?;
        match self.object.op_on(&pool, Op::ValSwap(item))? {
            Answer::Item(item) => decode_item(&pool, item),
            other => Err(unexpected(other)),
        }
    }

    /// Stores `new` if the value currently equals `current` (compared by
    /// encoding): `Ok(old)` if it did, `Err(actual)` if not.
    pub fn compare_exchange(&self, current: &T, new: &T) -> Result<Result<T, T>> {
        let pool = self.object.pool();
        let expected = encode_key(&pool, current)?;
        let new = encode_item(&pool, new)?;
        match self
            .object
            .op_on(&pool, Op::ValCompareSwap { expected, new })?
        {
            Answer::Swapped(Ok(Some(old))) => decode_item(&pool, old).map(Ok),
            Answer::Swapped(Err(Some(now))) => decode_item(&pool, now).map(Err),
            other => Err(unexpected(other)),
        }
    }

    /// Runs `f` on a copy of the value and stores the result, atomically:
    /// if another call changed the value meanwhile, `f` runs again on the
    /// new value. Returns what `f` returned the time it stuck.
    pub fn update_with<R>(&self, mut f: impl FnMut(&mut T) -> R) -> Result<R> {
        // A value is never absent: a server that says otherwise is broken.
        let absent = || Error::BadRequest("the manager answered that a Value is absent".into());
        let swap = |expected, new| match (expected, new) {
            (Some(expected), Some(new)) => Ok(Op::ValCompareSwap { expected, new }),
            _ => Err(absent()),
        };
        self.object
            .compare_swap(Op::ValGet, swap, |value: &mut Option<T>| {
                value.as_mut().map(&mut f)
            })?
            .ok_or_else(absent)
    }

    /// Adds `delta` on the server and returns the old value (integers wrap
    /// on overflow, like `AtomicI64::fetch_add`).
    pub fn fetch_add(&self, delta: T) -> Result<T>
    where
        T: Number,
    {
        self.arith(NumOp::Add, delta)
    }

    /// Subtracts `delta` on the server and returns the old value.
    pub fn fetch_sub(&self, delta: T) -> Result<T>
    where
        T: Number,
    {
        self.arith(NumOp::Sub, delta)
    }

    fn arith(&self, op: NumOp, delta: T) -> Result<T>
    where
        T: Number,
    {
        match self.object.op(Op::ValArith(arith(op, delta)?))?.1 {
            Answer::Item(item) => decode_exact(&item.bytes),
            other => Err(unexpected(other)),
        }
    }
}

/// A fixed-length array on the manager's server (Python's
/// `manager.Array(typecode, sequence)`).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let a = manager.array([1.0f64, 2.0, 3.0])?;
/// a.set(1, &5.0)?;
/// a.fetch_add(2, 0.5)?;
/// assert_eq!(a.to_vec()?, [1.0, 5.0, 3.5]);
/// # Ok(())
/// # }
/// ```
pub struct ArrayProxy<T> {
    object: ObjectRef,
    _types: PhantomData<fn() -> T>,
}

proxy_plumbing!(ArrayProxy<T>, [Array]);

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// A copy of the element at `index`.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: usize) -> Result<T> {
        match self.object.op(Op::SeqGet(index as u64))? {
            (pool, Answer::Item(item)) => decode_item(&pool, item),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Replaces the element at `index`.
    #[doc(alias = "__setitem__")]
    pub fn set<Q: Serialize + ?Sized>(&self, index: usize, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let item = encode_item(&pool, value)?;
        unit(self.object.op_on(&pool, Op::SeqSet(index as u64, item))?)
    }

    /// The length.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        count(self.object.op(Op::SeqLen)?.1).map(to_usize)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// A copy of every element (Python's `a[:]`).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        match self.object.op(Op::SeqSnapshot)? {
            (pool, Answer::Versioned { items, .. }) => decode_items(&pool, items),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Adds `delta` to the element at `index` on the server; returns the old value.
    pub fn fetch_add(&self, index: usize, delta: T) -> Result<T>
    where
        T: Number,
    {
        self.arith(index, NumOp::Add, delta)
    }

    /// Subtracts `delta` from the element at `index`; returns the old value.
    pub fn fetch_sub(&self, index: usize, delta: T) -> Result<T>
    where
        T: Number,
    {
        self.arith(index, NumOp::Sub, delta)
    }

    fn arith(&self, index: usize, op: NumOp, delta: T) -> Result<T>
    where
        T: Number,
    {
        match self
            .object
            .op(Op::SeqArith(index as u64, arith(op, delta)?))?
            .1
        {
            Answer::Item(item) => decode_exact(&item.bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces every element at once (the length must stay the same).
    pub fn set_all<I>(&self, items: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Borrow<T>,
    {
        let pool = self.object.pool();
        let items: Vec<_> = items
            .into_iter()
            .map(|v| encode_item(&pool, v.borrow()))
            .collect::<Result<_>>()?;
        loop {
            let version = match self.object.op_on(&pool, Op::SeqSnapshot)? {
                Answer::Versioned { version, items } => {
                    decode_with(
                        &pool,
                        items.into_iter().flat_map(|i| i.refs).collect(),
                        || Ok(()),
                    )?;
                    version
                }
                other => return Err(unexpected(other)),
            };
            let op = Op::SeqReplace {
                version,
                items: items.clone(),
            };
            if boolean(self.object.op_on(&pool, op)?)? {
                return Ok(());
            }
        }
    }
}
