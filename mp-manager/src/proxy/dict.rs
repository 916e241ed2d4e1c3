//! [`DictProxy`]: a dict on the server (Python's `manager.dict()`).

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Pool;
use crate::error::Result;
use crate::number::{Number, arith};
use crate::object_ref::{
    ObjectRef, PoolRef, decode_exact, decode_item, decode_items, decode_with, encode_entry,
    encode_key, proxy_plumbing, unexpected,
};
use crate::proxy::{boolean, count, to_usize, unit};
use crate::wire::{Answer, Item, NumOp, Op};

/// A dict on the manager's server (Python's `manager.dict()`).
///
/// Keys are compared by their serde encoding, so two keys are the same key
/// exactly when they encode the same (true for integers, strings, tuples
/// and derived types; floats by bit pattern). Iteration order is insertion
/// order, as in Python. Reads return owned copies; see
/// [`ListProxy`](crate::ListProxy) for why nested changes cannot get lost.
///
/// `d[k] += 1` from several processes races in Python; here use
/// [`fetch_add`](DictProxy::fetch_add) for numbers or
/// [`update_with`](DictProxy::update_with) for anything else.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let scores = manager.dict::<String, u32>()?;
/// scores.insert("ann", &3)?;
/// scores.fetch_add("ann", 2)?;
/// scores.update_with("bob", |v| *v = Some(v.unwrap_or(0) + 10))?;
/// assert_eq!(scores.get("ann")?, Some(5));
/// assert_eq!(scores.items()?, [("ann".to_string(), 5), ("bob".to_string(), 10)]);
/// # Ok(())
/// # }
/// ```
pub struct DictProxy<K, V> {
    object: ObjectRef,
    _types: PhantomData<fn() -> (K, V)>,
}

proxy_plumbing!(DictProxy<K, V>, [Dict]);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    fn maybe(&self, pool: &Arc<Pool>, op: Op) -> Result<Option<V>> {
        maybe_value(pool, self.object.op_on(pool, op)?)
    }

    /// Runs the op `make` builds of the encoded `key` and `value`.
    fn entry_op<Q, W>(
        &self,
        key: &Q,
        value: &W,
        make: fn(Vec<u8>, Item) -> Op,
    ) -> Result<(PoolRef<'_>, Answer)>
    where
        Q: Serialize + ?Sized,
        W: Serialize + ?Sized,
    {
        let pool = self.object.pool();
        let (key, item) = encode_entry(&pool, key, value)?;
        let answer = self.object.op_on(&pool, make(key, item))?;
        Ok((pool, answer))
    }

    /// Sets `key` to `value` (Python's `d[key] = value`). Use
    /// [`insert`](DictProxy::insert) for the old value.
    #[doc(alias = "__setitem__")]
    pub fn set<Q, W>(&self, key: &Q, value: &W) -> Result<()>
    where
        K: Borrow<Q>,
        V: Borrow<W>,
        Q: Serialize + ?Sized,
        W: Serialize + ?Sized,
    {
        unit(self.entry_op(key, value, Op::MapSet)?.1)
    }

    /// Sets `key` to `value` and returns the old value (like
    /// `HashMap::insert`; Python's `d[key] = value` is [`set`](DictProxy::set)).
    pub fn insert<Q, W>(&self, key: &Q, value: &W) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        V: Borrow<W>,
        Q: Serialize + ?Sized,
        W: Serialize + ?Sized,
    {
        let (pool, answer) = self.entry_op(key, value, Op::MapInsert)?;
        maybe_value(&pool, answer)
    }

    /// A copy of the value for `key` (Python's `d.get(key)`).
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, key)?;
        self.maybe(&pool, Op::MapGet(key))
    }

    /// Removes `key` and returns its value (Python's `d.pop(key, None)`).
    #[doc(alias = "pop")]
    pub fn remove<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, key)?;
        self.maybe(&pool, Op::MapRemove(key))
    }

    /// Whether `key` is present (Python's `key in d`).
    #[doc(alias = "__contains__")]
    pub fn contains_key<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, key)?;
        boolean(self.object.op_on(&pool, Op::MapContains(key))?)
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> Result<Vec<K>> {
        match self.object.op(Op::MapKeys)? {
            (pool, Answer::Keys(keys)) => decode_with(&pool, Vec::new(), || {
                keys.iter().map(|k| decode_exact(k)).collect()
            }),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Copies of the values, in insertion order.
    pub fn values(&self) -> Result<Vec<V>> {
        match self.object.op(Op::MapValues)? {
            (pool, Answer::Items(items)) => decode_items(&pool, items),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Copies of the `(key, value)` pairs, in insertion order.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        match self.object.op(Op::MapItems)? {
            (pool, Answer::Pairs(pairs)) => {
                let refs = pairs
                    .iter()
                    .flat_map(|(_, v)| v.refs.iter().copied())
                    .collect();
                decode_with(&pool, refs, || {
                    pairs
                        .iter()
                        .map(|(k, v)| Ok((decode_exact(k)?, decode_exact(&v.bytes)?)))
                        .collect()
                })
            }
            (_, other) => Err(unexpected(other)),
        }
    }

    /// The number of entries.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        count(self.object.op(Op::MapLen)?.1).map(to_usize)
    }

    /// Whether the dict is empty.
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Inserts every pair, atomically (Python's `d.update(pairs)`).
    pub fn update<I, P, Q>(&self, pairs: I) -> Result<()>
    where
        I: IntoIterator<Item = (P, Q)>,
        P: Borrow<K>,
        Q: Borrow<V>,
    {
        let pool = self.object.pool();
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| {
                let (key, item) = encode_entry(&pool, k.borrow(), v.borrow())?;
                Ok((key.into(), item))
            })
            .collect::<Result<_>>()?;
        unit(self.object.op_on(&pool, Op::MapUpdate(pairs))?)
    }

    /// The value for `key`, inserting `default` first if it is missing
    /// (Python's `d.setdefault(key, default)`), atomically.
    pub fn setdefault<Q, W>(&self, key: &Q, default: &W) -> Result<V>
    where
        K: Borrow<Q>,
        V: Borrow<W>,
        Q: Serialize + ?Sized,
        W: Serialize + ?Sized,
    {
        let pool = self.object.pool();
        let (key, item) = encode_entry(&pool, key, default)?;
        match self.object.op_on(&pool, Op::MapSetDefault(key, item))? {
            Answer::Item(item) => decode_item(&pool, item),
            other => Err(unexpected(other)),
        }
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<()> {
        unit(self.object.op(Op::MapClear)?.1)
    }

    /// Removes and returns the most recently inserted pair (Python's
    /// `popitem`); `None` if the dict is empty.
    pub fn popitem(&self) -> Result<Option<(K, V)>> {
        match self.object.op(Op::MapPopItem)? {
            (pool, Answer::MaybePair(Some((k, v)))) => decode_with(&pool, v.refs.clone(), || {
                Ok(Some((decode_exact(&k)?, decode_exact(&v.bytes)?)))
            }),
            (_, Answer::MaybePair(None)) => Ok(None),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// Adds `delta` to the number at `key` on the server and returns the old
    /// value; a missing key counts as zero. Integers wrap on overflow.
    pub fn fetch_add<Q: Serialize + ?Sized>(&self, key: &Q, delta: V) -> Result<V>
    where
        K: Borrow<Q>,
        V: Number,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, key)?;
        self.arith(&pool, key, NumOp::Add, delta)
    }

    /// Subtracts `delta` from the number at `key` (see [`fetch_add`](DictProxy::fetch_add)).
    pub fn fetch_sub<Q: Serialize + ?Sized>(&self, key: &Q, delta: V) -> Result<V>
    where
        K: Borrow<Q>,
        V: Number,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, key)?;
        self.arith(&pool, key, NumOp::Sub, delta)
    }

    fn arith(&self, pool: &Arc<Pool>, key: Vec<u8>, op: NumOp, delta: V) -> Result<V>
    where
        V: Number,
    {
        match self
            .object
            .op_on(pool, Op::MapArith(key, arith(op, delta)?))?
        {
            Answer::Item(item) => decode_exact(&item.bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Atomically updates the entry for `key`: `f` gets a copy of the value
    /// (`None` if missing) to change, and setting it to `None` removes the
    /// entry. If another call changed the entry meanwhile, `f` runs again on
    /// the new value. Returns what `f` returned the time it stuck.
    pub fn update_with<Q, R>(&self, key: &Q, f: impl FnMut(&mut Option<V>) -> R) -> Result<R>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, key)?;
        self.object.update_entry(key, f)
    }
}

/// A value that may be missing, from an answer.
fn maybe_value<V: DeserializeOwned>(pool: &Arc<Pool>, answer: Answer) -> Result<Option<V>> {
    match answer {
        Answer::MaybeItem(Some(item)) => decode_item(pool, item).map(Some),
        Answer::MaybeItem(None) => Ok(None),
        other => Err(unexpected(other)),
    }
}
