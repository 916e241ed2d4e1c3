//! [`RemoteIter`]: iterating a list, a dict or a shared object's iterator
//! method a batch per round trip, over a cursor that lives on the server.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Pool;
use crate::error::{Error, Result};
use crate::object_ref::{ObjectRef, Proxy, decode_exact, decode_items, decode_with, unexpected};
use crate::proxy::{DictProxy, ListProxy, SharedProxy};
use crate::wire::{Answer, Batch, IterOver, ObjectKind, Op};

/// Entries per round trip unless asked otherwise.
pub const DEFAULT_ITER_BATCH: usize = 128;

/// Turns a batch into values of the iterator's type.
type Decode<T> = fn(&Arc<Pool>, Batch) -> Result<Vec<T>>;

/// An iterator over a server object, fetched in batches (Python's
/// `IteratorProxy`, without its round trip per element): the first batch
/// comes with the call that makes it, every later one is one round trip,
/// so `n` entries cost `ceil(n / batch)` round trips.
///
/// The position lives on the server, in a cursor object this iterator
/// holds: dropping the iterator (or the process that has it ending) frees
/// the cursor, as for any proxy. What an iteration sees of changes made
/// while it runs is said on [`ListProxy::iter`] and [`DictProxy::iter`].
///
/// Each item is a `Result`: an error (the manager gone, a value that does
/// not decode) is yielded once, and ends the iteration.
pub struct RemoteIter<T> {
    pool: Arc<Pool>,
    /// The cursor, while entries are left on the server.
    cursor: Option<ObjectRef>,
    batch: u32,
    buffer: std::vec::IntoIter<T>,
    decode: Decode<T>,
}

impl<T> RemoteIter<T> {
    /// Starts the iteration `op` of `object`.
    fn start(object: &ObjectRef, op: Op, decode: Decode<T>) -> Result<RemoteIter<T>> {
        let batch = match &op {
            Op::Iterate { batch, .. } | Op::IterateMethod { batch, .. } => *batch,
            _ => unreachable!("only iterations start here"),
        };
        let (pool, first) = match object.op(op)? {
            (pool, Answer::Batch(first)) => (Arc::clone(&pool), first),
            (_, other) => return Err(unexpected(other)),
        };
        // Held from here, so a batch that fails to decode still frees it.
        let cursor = first
            .cursor
            .map(|id| ObjectRef::new(pool.clone(), id, ObjectKind::Iterator, None, true));
        let buffer = decode(&pool, first)?.into_iter();
        Ok(RemoteIter {
            pool,
            cursor,
            batch,
            buffer,
            decode,
        })
    }

    /// Entries fetched and not yet yielded.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the server has entries left for this iteration (a cursor).
    pub fn has_cursor(&self) -> bool {
        self.cursor.is_some()
    }

    fn fetch(&mut self) -> Option<Result<()>> {
        let cursor = self.cursor.as_ref()?;
        let batch = match cursor.op(Op::IterNext(self.batch)) {
            Ok((_, Answer::Batch(batch))) => batch,
            Ok((_, other)) => return Some(self.fail(unexpected(other))),
            Err(e) => return Some(self.fail(e)),
        };
        if batch.done {
            self.cursor = None;
        }
        match (self.decode)(&self.pool, batch) {
            Ok(items) => {
                self.buffer = items.into_iter();
                Some(Ok(()))
            }
            Err(e) => Some(self.fail(e)),
        }
    }

    fn fail(&mut self, e: Error) -> Result<()> {
        self.cursor = None;
        Err(e)
    }
}

impl<T> Iterator for RemoteIter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.buffer.next() {
                return Some(Ok(item));
            }
            if let Err(e) = self.fetch()? {
                return Some(Err(e));
            }
        }
    }
}

impl<T> fmt::Debug for RemoteIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteIter")
            .field("cursor", &self.cursor)
            .field("batch", &self.batch)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

fn batch_size(batch: usize) -> u32 {
    batch.clamp(1, 4096) as u32
}

fn items_of<T: DeserializeOwned>(pool: &Arc<Pool>, batch: Batch) -> Result<Vec<T>> {
    decode_items(pool, batch.items)
}

fn keys_of<K: DeserializeOwned>(pool: &Arc<Pool>, batch: Batch) -> Result<Vec<K>> {
    decode_with(pool, Vec::new(), || {
        batch.keys.iter().map(|k| decode_exact(k)).collect()
    })
}

fn pairs_of<K: DeserializeOwned, V: DeserializeOwned>(
    pool: &Arc<Pool>,
    batch: Batch,
) -> Result<Vec<(K, V)>> {
    let refs = batch
        .items
        .iter()
        .flat_map(|v| v.refs.iter().copied())
        .collect();
    decode_with(pool, refs, || {
        batch
            .keys
            .iter()
            .zip(&batch.items)
            .map(|(k, v)| Ok((decode_exact(k)?, decode_exact(&v.bytes)?)))
            .collect()
    })
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Iterates the list, [`DEFAULT_ITER_BATCH`] items per round trip
    /// (Python's `for x in proxy`, which costs one per item).
    ///
    /// Each batch is read atomically; between batches the iteration keeps
    /// a position on the server, as Python's list iterator does: items
    /// appended before it reaches the end are seen, and an insertion or a
    /// removal before the position shifts what comes next (an item may
    /// then be skipped or seen twice). For a consistent copy of the whole
    /// list at once, use [`to_vec`](ListProxy::to_vec).
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
    #[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
    /// let list = manager.list_from(0..1000u32)?;
    /// let mut total = 0;
    /// for n in list.iter()? {
    ///     total += n?;
    /// }
    /// assert_eq!(total, 499_500);
    /// # Ok(())
    /// # }
    /// ```
    #[doc(alias = "__iter__")]
    pub fn iter(&self) -> Result<RemoteIter<T>> {
        self.iter_batched(DEFAULT_ITER_BATCH)
    }

    /// Like [`iter`](ListProxy::iter), `batch` items per round trip (1 to 4096).
    pub fn iter_batched(&self, batch: usize) -> Result<RemoteIter<T>> {
        let op = Op::Iterate {
            over: IterOver::Items,
            batch: batch_size(batch),
        };
        RemoteIter::start(self.object_ref(), op, items_of::<T>)
    }
}

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// Iterates the `(key, value)` pairs in insertion order,
    /// [`DEFAULT_ITER_BATCH`] per round trip (Python's `for k, v in
    /// d.items()`).
    ///
    /// Every entry present from start to end is seen exactly once; an entry
    /// removed before the iteration reaches it is not seen, one added
    /// meanwhile is (at its place in insertion order: at the end), and a
    /// value is as it was when its batch was read. (Python raises
    /// `RuntimeError` when a dict changes size during iteration.)
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
    #[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
    /// let d = manager.dict_from([("a".to_string(), 1), ("b".to_string(), 2)])?;
    /// let pairs: Vec<(String, i32)> = d.iter()?.collect::<Result<_, _>>()?;
    /// assert_eq!(pairs, [("a".to_string(), 1), ("b".to_string(), 2)]);
    /// let keys: Vec<String> = d.iter_keys()?.collect::<Result<_, _>>()?;
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok(())
    /// # }
    /// ```
    #[doc(alias = "__iter__")]
    pub fn iter(&self) -> Result<RemoteIter<(K, V)>> {
        self.iter_batched(DEFAULT_ITER_BATCH)
    }

    /// Like [`iter`](DictProxy::iter), `batch` pairs per round trip (1 to 4096).
    pub fn iter_batched(&self, batch: usize) -> Result<RemoteIter<(K, V)>> {
        let op = Op::Iterate {
            over: IterOver::Items,
            batch: batch_size(batch),
        };
        RemoteIter::start(self.object_ref(), op, pairs_of::<K, V>)
    }

    /// Iterates the keys (as [`iter`](DictProxy::iter) does the pairs).
    pub fn iter_keys(&self) -> Result<RemoteIter<K>> {
        let op = Op::Iterate {
            over: IterOver::Keys,
            batch: batch_size(DEFAULT_ITER_BATCH),
        };
        RemoteIter::start(self.object_ref(), op, keys_of::<K>)
    }

    /// Iterates copies of the values (as [`iter`](DictProxy::iter) does
    /// the pairs).
    pub fn iter_values(&self) -> Result<RemoteIter<V>> {
        let op = Op::Iterate {
            over: IterOver::Values,
            batch: batch_size(DEFAULT_ITER_BATCH),
        };
        RemoteIter::start(self.object_ref(), op, items_of::<V>)
    }
}

impl SharedProxy {
    /// Iterates what iterator method `method` (one of the type's
    /// [`Shared::iterators`](crate::Shared::iterators)) yields for `args`,
    /// `batch` items per round trip (Python's `method_to_typeid` returning
    /// an `Iterator` proxy). The iterator runs on the server, pulled a
    /// batch at a time, and is dropped with this one.
    pub fn iter<A, T>(&self, method: &str, args: &A, batch: usize) -> Result<RemoteIter<T>>
    where
        A: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let args = postcard::to_allocvec(args).map_err(|e| Error::Encode(e.to_string()))?;
        let op = Op::IterateMethod {
            name: method.to_owned(),
            args,
            batch: batch_size(batch),
        };
        RemoteIter::start(self.object_ref(), op, items_of::<T>)
    }
}
