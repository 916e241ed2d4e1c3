//! Typed proxies to a CPython manager's queues, dicts and lists, with
//! mp-manager's names (`try_get` for `get_nowait`, `Option` for a missing
//! key).

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use mp_manager::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PyProxy;
use crate::value::PyValue;

/// How much longer than a server-side timeout the client waits for the
/// reply (the server answers `queue.Empty` itself when its time is up).
const REPLY_GRACE: Duration = Duration::from_secs(10);

fn one<T: Serialize + ?Sized>(value: &T) -> Result<PyValue> {
    crate::to_value(value).map_err(|e| Error::Encode(e.to_string()))
}

macro_rules! typed_proxy {
    ($(#[$doc:meta])* $name:ident < $($param:ident),+ >) => {
        $(#[$doc])*
        pub struct $name<$($param),+> {
            proxy: PyProxy,
            _items: PhantomData<fn() -> ($($param,)+)>,
        }

        impl<$($param),+> From<PyProxy> for $name<$($param),+> {
            fn from(proxy: PyProxy) -> Self {
                $name {
                    proxy,
                    _items: PhantomData,
                }
            }
        }

        impl<$($param),+> $name<$($param),+> {
            /// The untyped proxy (for methods without a typed form).
            pub fn proxy(&self) -> &PyProxy {
                &self.proxy
            }

            /// A second proxy to the same object (Python's `incref`).
            pub fn try_clone(&self) -> Result<Self> {
                Ok(self.proxy.try_clone()?.into())
            }

            fn invoke<R: DeserializeOwned>(&self, method: &str, args: Vec<PyValue>) -> Result<R> {
                self.proxy.ask(method, args, None)?.value()
            }
        }

        impl<$($param),+> fmt::Debug for $name<$($param),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.proxy, f)
            }
        }
    };
}

typed_proxy! {
    /// A `queue.Queue` in a CPython manager (`m.Queue()`), items read as `T`.
    PyQueueProxy<T>
}

typed_proxy! {
    /// A `dict` in a CPython manager (`m.dict()`).
    PyDictProxy<K, V>
}

typed_proxy! {
    /// A `list` in a CPython manager (`m.list()`).
    PyListProxy<T>
}

impl<T: DeserializeOwned> PyQueueProxy<T> {
    /// `q.put(item)`: blocks while a bounded queue is full.
    pub fn put<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<()> {
        self.invoke("put", vec![one(item)?])
    }

    /// `q.put(item, True, timeout)`: [`Error::Full`] when time is up.
    pub fn put_timeout<Q: Serialize + ?Sized>(&self, item: &Q, timeout: Duration) -> Result<()> {
        let args = vec![
            one(item)?,
            PyValue::Bool(true),
            PyValue::Float(timeout.as_secs_f64()),
        ];
        self.proxy
            .ask("put", args, Some(timeout + REPLY_GRACE))?
            .value()
    }

    /// `q.put_nowait(item)`: [`Error::Full`] if a bounded queue is full.
    #[doc(alias = "put_nowait")]
    pub fn try_put<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<()> {
        self.invoke("put_nowait", vec![one(item)?])
    }

    /// `q.get()`: blocks until an item comes.
    pub fn get(&self) -> Result<T> {
        self.invoke("get", Vec::new())
    }

    /// `q.get(True, timeout)`: [`Error::Empty`] when time is up.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        let args = (true, timeout.as_secs_f64());
        self.proxy
            .call_timeout("get", &args, Some(timeout + REPLY_GRACE))
    }

    /// `q.get_nowait()`: [`Error::Empty`] (Python's `queue.Empty`) if
    /// there is no item.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T> {
        self.invoke("get_nowait", Vec::new())
    }

    /// `q.qsize()`.
    pub fn qsize(&self) -> Result<usize> {
        self.invoke("qsize", Vec::new())
    }

    /// `q.empty()`.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> Result<bool> {
        self.invoke("empty", Vec::new())
    }

    /// `q.full()`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> Result<bool> {
        self.invoke("full", Vec::new())
    }

    /// `q.task_done()`; one call too many is [`Error::Remote`] naming
    /// Python's `ValueError`.
    pub fn task_done(&self) -> Result<()> {
        self.invoke("task_done", Vec::new())
    }

    /// `q.join()`: waits until every item put was marked done.
    pub fn join(&self) -> Result<()> {
        self.invoke("join", Vec::new())
    }

    /// `q.join()` for at most `timeout`: `Ok(false)` if the items were not
    /// all done by then.
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        match self.proxy.call_timeout::<(), _>("join", &(), Some(timeout)) {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl<K: DeserializeOwned, V: DeserializeOwned> PyDictProxy<K, V> {
    /// `d[key] = value`.
    pub fn set<Q: Serialize + ?Sized, W: Serialize + ?Sized>(
        &self,
        key: &Q,
        value: &W,
    ) -> Result<()> {
        self.invoke("__setitem__", vec![one(key)?, one(value)?])
    }

    /// `d[key]`, with Python's `KeyError` as `None`.
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>> {
        let answer = self.proxy.ask("__getitem__", vec![one(key)?], None)?;
        if answer.raised("KeyError") {
            return Ok(None);
        }
        answer.value().map(Some)
    }

    /// `d.pop(key)`, with Python's `KeyError` as `None`.
    pub fn remove<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>> {
        let answer = self.proxy.ask("pop", vec![one(key)?], None)?;
        if answer.raised("KeyError") {
            return Ok(None);
        }
        answer.value().map(Some)
    }

    /// `key in d`.
    pub fn contains_key<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool> {
        self.invoke("__contains__", vec![one(key)?])
    }

    /// `len(d)`.
    pub fn len(&self) -> Result<usize> {
        self.invoke("__len__", Vec::new())
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `list(d.keys())`.
    pub fn keys(&self) -> Result<Vec<K>> {
        self.invoke("keys", Vec::new())
    }

    /// `list(d.values())`.
    pub fn values(&self) -> Result<Vec<V>> {
        self.invoke("values", Vec::new())
    }

    /// `list(d.items())`, in the dict's order.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        self.invoke("items", Vec::new())
    }

    /// `d.update(pairs)`.
    pub fn update<P: Serialize>(&self, pairs: &[P]) -> Result<()> {
        self.invoke("update", vec![one(pairs)?])
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.invoke("clear", Vec::new())
    }
}

impl<T: DeserializeOwned> PyListProxy<T> {
    /// `l.append(item)`.
    pub fn append<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<()> {
        self.invoke("append", vec![one(item)?])
    }

    /// `l.extend(items)`.
    pub fn extend<Q: Serialize>(&self, items: &[Q]) -> Result<()> {
        self.invoke("extend", vec![one(items)?])
    }

    /// `l[index]`; past the end is [`Error::IndexOutOfRange`].
    pub fn get(&self, index: usize) -> Result<T> {
        let answer = self
            .proxy
            .ask("__getitem__", vec![PyValue::int(index as i128)], None)?;
        if answer.raised("IndexError") {
            return Err(self.out_of_range(index));
        }
        answer.value()
    }

    /// `l[index] = item`; past the end is [`Error::IndexOutOfRange`].
    pub fn set<Q: Serialize + ?Sized>(&self, index: usize, item: &Q) -> Result<()> {
        let args = vec![PyValue::int(index as i128), one(item)?];
        let answer = self.proxy.ask("__setitem__", args, None)?;
        if answer.raised("IndexError") {
            return Err(self.out_of_range(index));
        }
        answer.value()
    }

    /// `l.insert(index, item)`.
    pub fn insert<Q: Serialize + ?Sized>(&self, index: usize, item: &Q) -> Result<()> {
        self.invoke("insert", vec![PyValue::int(index as i128), one(item)?])
    }

    /// `l.pop()`, with an empty list as `None`.
    pub fn pop(&self) -> Result<Option<T>> {
        let answer = self.proxy.ask("pop", Vec::new(), None)?;
        if answer.raised("IndexError") {
            return Ok(None);
        }
        answer.value().map(Some)
    }

    /// `l.index(item)`, with Python's `ValueError` (not found) as `None`.
    pub fn index<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<Option<usize>> {
        let answer = self.proxy.ask("index", vec![one(item)?], None)?;
        if answer.raised("ValueError") {
            return Ok(None);
        }
        answer.value().map(Some)
    }

    /// `l.remove(item)`: whether it was there.
    pub fn remove<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<bool> {
        let answer = self.proxy.ask("remove", vec![one(item)?], None)?;
        if answer.raised("ValueError") {
            return Ok(false);
        }
        answer.value::<()>().map(|()| true)
    }

    /// `l.count(item)`.
    pub fn count<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<usize> {
        self.invoke("count", vec![one(item)?])
    }

    /// `item in l`.
    pub fn contains<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<bool> {
        self.invoke("__contains__", vec![one(item)?])
    }

    /// `len(l)`.
    pub fn len(&self) -> Result<usize> {
        self.invoke("__len__", Vec::new())
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of the whole list (Python's `l._getvalue()`).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.proxy.call("#GETVALUE", &())
    }

    fn out_of_range(&self, index: usize) -> Error {
        match self.len() {
            Ok(len) => Error::IndexOutOfRange {
                index: index as u64,
                len: len as u64,
            },
            Err(e) => e,
        }
    }
}
