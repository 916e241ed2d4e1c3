//! [`ListProxy`]: a list on the server (Python's `manager.list()`).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::object_ref::{
    ObjectRef, decode_item, decode_items, encode_item, encode_key, proxy_plumbing, unexpected,
};
use crate::proxy::{boolean, count, to_usize, unit};
use crate::wire::{Answer, Op};

/// A list on the manager's server (Python's `manager.list()`).
///
/// Values are typed here and stored on the server as serde data. Every
/// call is one round trip and atomic on the server. Reads return owned
/// copies: `list.get(0)?` is a snapshot, and changing it changes nothing
/// on the server, so the classic CPython surprise (`l[0]["k"] = v` silently
/// lost on a nested plain dict) cannot happen silently here: to change an
/// element, `set` it back, use [`update_with`](ListProxy::update_with), or
/// store proxies (a list of [`DictProxy`](crate::DictProxy)s), which stay
/// live.
///
/// Equality (`remove`, `index`, `count`, `contains`) compares encodings:
/// exact for integers, strings and the usual derived types; floats compare
/// by bit pattern (`-0.0 != 0.0`, `NaN == NaN` with the same bits).
///
/// Clones and copies sent to other processes (as arguments, or inside
/// other manager objects) are proxies of the same list.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let records = manager.list_from([("Sam".to_string(), 10), ("Adam".to_string(), 9)])?;
/// records.append(&("Jeff".to_string(), 8))?;
/// records.sort_by_key(|(_, score)| *score)?;
/// assert_eq!(records.get(0)?.0, "Jeff");
/// assert_eq!(records.len()?, 3);
/// # Ok(())
/// # }
/// ```
pub struct ListProxy<T> {
    object: ObjectRef,
    _types: PhantomData<fn() -> T>,
}

proxy_plumbing!(ListProxy<T>, [List]);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Adds `value` at the end.
    pub fn append<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let item = encode_item(&pool, value)?;
        unit(self.object.op_on(&pool, Op::SeqPush(item))?)
    }

    /// Adds every item at the end, atomically (no other call lands in between).
    pub fn extend<I>(&self, items: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Borrow<T>,
    {
        let pool = self.object.pool();
        let items = items
            .into_iter()
            .map(|v| encode_item(&pool, v.borrow()))
            .collect::<Result<_>>()?;
        unit(self.object.op_on(&pool, Op::SeqExtend(items))?)
    }

    /// A copy of the item at `index` ([`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange)
    /// past the end, like Python's `IndexError`).
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: usize) -> Result<T> {
        match self.object.op(Op::SeqGet(index as u64))? {
            (pool, Answer::Item(item)) => decode_item(&pool, item),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Replaces the item at `index`.
    #[doc(alias = "__setitem__")]
    pub fn set<Q: Serialize + ?Sized>(&self, index: usize, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let item = encode_item(&pool, value)?;
        unit(self.object.op_on(&pool, Op::SeqSet(index as u64, item))?)
    }

    /// Inserts `value` before `index` (at the end if `index` is past it, as
    /// in Python).
    pub fn insert<Q: Serialize + ?Sized>(&self, index: usize, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let item = encode_item(&pool, value)?;
        unit(
            self.object
                .op_on(&pool, Op::SeqInsert(index as u64, item))?,
        )
    }

    /// Removes and returns the last item; `None` if the list is empty.
    pub fn pop(&self) -> Result<Option<T>> {
        match self.object.op(Op::SeqPop(None))? {
            (pool, Answer::MaybeItem(Some(item))) => decode_item(&pool, item).map(Some),
            (_, Answer::MaybeItem(None)) => Ok(None),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Removes and returns the item at `index` (Python's `pop(i)`).
    #[doc(alias = "pop")]
    pub fn pop_at(&self, index: usize) -> Result<T> {
        match self.object.op(Op::SeqPop(Some(index as u64)))? {
            (pool, Answer::MaybeItem(Some(item))) => decode_item(&pool, item),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Removes the first item equal to `value`; `false` if there is none
    /// (where Python raises `ValueError`).
    pub fn remove<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, value)?;
        boolean(self.object.op_on(&pool, Op::SeqRemove(key))?)
    }

    /// The position of the first item equal to `value`.
    pub fn index<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<Option<usize>>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, value)?;
        match self.object.op_on(&pool, Op::SeqIndex(key))? {
            Answer::Count(i) => Ok(Some(to_usize(i))),
            Answer::Unit => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// How many items equal `value`.
    pub fn count<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, value)?;
        count(self.object.op_on(&pool, Op::SeqCount(key))?).map(to_usize)
    }

    /// Whether an item equals `value` (Python's `value in list`).
    #[doc(alias = "__contains__")]
    pub fn contains<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
    {
        self.index(value).map(|i| i.is_some())
    }

    /// The number of items.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        count(self.object.op(Op::SeqLen)?.1).map(to_usize)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Removes every item.
    pub fn clear(&self) -> Result<()> {
        unit(self.object.op(Op::SeqClear)?.1)
    }

    /// Reverses the items in place (on the server).
    pub fn reverse(&self) -> Result<()> {
        unit(self.object.op(Op::SeqReverse)?.1)
    }

    /// Copies of the items in `range` (Python's `list[a:b]`), clamped to the
    /// list's length.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<Vec<T>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s as u64,
            Bound::Excluded(&s) => s as u64 + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e as u64 + 1,
            Bound::Excluded(&e) => e as u64,
            Bound::Unbounded => u64::MAX,
        };
        match self.object.op(Op::SeqSlice(start, end))? {
            (pool, Answer::Items(items)) => decode_items(&pool, items),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// A copy of every item (Python's `list(proxy)` / `proxy[:]`).
    #[doc(alias = "copy")]
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.snapshot().map(|(_, values)| values)
    }

    fn snapshot(&self) -> Result<(u64, Vec<T>)> {
        match self.object.op(Op::SeqSnapshot)? {
            (pool, Answer::Versioned { version, items }) => {
                Ok((version, decode_items(&pool, items)?))
            }
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Runs `f` on a copy of the whole list and stores the result back,
    /// atomically: if another call changed the list in between, `f` runs
    /// again on the new contents (so it may run more than once; keep it
    /// free of side effects). Returns what `f` returned the time it stuck.
    ///
    /// This is the read-modify-write that a Python user does by hand with a
    /// lock around `l[:]` and a write-back.
    pub fn update_with<R>(&self, mut f: impl FnMut(&mut Vec<T>) -> R) -> Result<R> {
        let pool = self.object.pool();
        loop {
            let (version, mut values) = self.snapshot()?;
            let result = f(&mut values);
            let items = values
                .iter()
                .map(|v| encode_item(&pool, v))
                .collect::<Result<_>>()?;
            if boolean(
                self.object
                    .op_on(&pool, Op::SeqReplace { version, items })?,
            )? {
                return Ok(result);
            }
        }
    }

    /// Sorts the list (stable), comparing the items as `T` does.
    ///
    /// The server cannot compare encodings as `T` would, so the items are
    /// compared here and the server applies the resulting order, provided
    /// the list did not change meanwhile (otherwise this sorts again).
    pub fn sort(&self) -> Result<()>
    where
        T: Ord,
    {
        self.sort_by(T::cmp)
    }

    /// Sorts the list by a key (Python's `sort(key=...)`).
    pub fn sort_by_key<K: Ord>(&self, mut key: impl FnMut(&T) -> K) -> Result<()> {
        self.sort_by(|a, b| key(a).cmp(&key(b)))
    }

    /// Sorts the list with a comparison function (stable).
    pub fn sort_by(&self, mut compare: impl FnMut(&T, &T) -> Ordering) -> Result<()> {
        loop {
            let (version, values) = self.snapshot()?;
            let mut perm: Vec<u32> = (0..values.len() as u32).collect();
            perm.sort_by(|&a, &b| compare(&values[a as usize], &values[b as usize]));
            if boolean(self.object.op(Op::SeqPermute { version, perm })?.1)? {
                return Ok(());
            }
        }
    }
}
