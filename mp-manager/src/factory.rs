//! The proxy factory: the [`Manager`] methods that make shared objects
//! (Python's `manager.list()`, `dict()`, `Queue()`, `Lock()`, ...) and that
//! reach registered typeids.

use std::sync::Arc;

use serde::Serialize;

use crate::client::Pool;
use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::object_ref::{ObjectRef, Proxy, check_kind, encode_item, encode_key, unexpected};
use crate::proxy::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy,
    LockProxy, Namespace, QueueProxy, RLockProxy, SemaphoreProxy, ValueProxy,
};
use crate::wire::{Answer, Init, Request, Wait};

impl Manager {
    fn create<P: Proxy>(&self, pool: Arc<Pool>, init: Init) -> Result<P> {
        match pool.request(Request::Create(init), Wait::Now)? {
            Answer::Created { id, kind, typeid } => Ok(P::from_object_ref(ObjectRef::new(
                pool, id, kind, typeid, true,
            ))),
            other => Err(unexpected(other)),
        }
    }

    fn create_items<P: Proxy, T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        init: fn(Vec<crate::wire::Item>) -> Init,
    ) -> Result<P> {
        let pool = self.pool();
        let items = items
            .into_iter()
            .map(|v| encode_item(&pool, &v))
            .collect::<Result<_>>()?;
        self.create(pool, init(items))
    }

    /// A new empty list (Python's `manager.list()`).
    pub fn list<T>(&self) -> Result<ListProxy<T>> {
        self.create(self.pool(), Init::List(Vec::new()))
    }

    /// A new list of `items` (Python's `manager.list(sequence)`).
    pub fn list_from<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>> {
        self.create_items(items, Init::List)
    }

    /// A new empty dict (Python's `manager.dict()`).
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>> {
        self.create(self.pool(), Init::Dict(Vec::new()))
    }

    /// A new dict of `pairs` (Python's `manager.dict(mapping)`).
    pub fn dict_from<K: Serialize, V: Serialize>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>> {
        let pool = self.pool();
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode_key(&pool, &k)?.into(), encode_item(&pool, &v)?)))
            .collect::<Result<_>>()?;
        self.create(pool, Init::Dict(pairs))
    }

    /// A new empty namespace (Python's `manager.Namespace()`).
    #[doc(alias = "Namespace")]
    pub fn namespace(&self) -> Result<Namespace> {
        self.create(self.pool(), Init::Namespace(Vec::new()))
    }

    /// A new value (Python's `manager.Value(typecode, value)`).
    #[doc(alias = "Value")]
    pub fn value<T: Serialize>(&self, value: &T) -> Result<ValueProxy<T>> {
        let pool = self.pool();
        let item = encode_item(&pool, value)?;
        self.create(pool, Init::Value(item))
    }

    /// A new fixed-length array (Python's `manager.Array(typecode, sequence)`).
    #[doc(alias = "Array")]
    pub fn array<T: Serialize>(&self, items: impl IntoIterator<Item = T>) -> Result<ArrayProxy<T>> {
        self.create_items(items, Init::Array)
    }

    /// A new unbounded queue (Python's `manager.Queue()`).
    #[doc(alias = "Queue")]
    pub fn queue<T>(&self) -> Result<QueueProxy<T>> {
        self.bounded_queue(0)
    }

    /// A new queue of at most `maxsize` items, 0 meaning unbounded (Python's
    /// `manager.Queue(maxsize)`).
    pub fn bounded_queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>> {
        let init = Init::Queue {
            maxsize: maxsize as u64,
            joinable: false,
        };
        self.create(self.pool(), init)
    }

    /// A new joinable queue (Python's `manager.JoinableQueue(maxsize)`; 0:
    /// unbounded).
    #[doc(alias = "JoinableQueue")]
    pub fn joinable_queue<T>(&self, maxsize: usize) -> Result<JoinableQueueProxy<T>> {
        let init = Init::Queue {
            maxsize: maxsize as u64,
            joinable: true,
        };
        self.create(self.pool(), init)
    }

    /// A new lock (Python's `manager.Lock()`).
    #[doc(alias = "Lock")]
    pub fn lock(&self) -> Result<LockProxy> {
        self.create(self.pool(), Init::Lock)
    }

    /// A new reentrant lock (Python's `manager.RLock()`).
    #[doc(alias = "RLock")]
    pub fn rlock(&self) -> Result<RLockProxy> {
        self.create(self.pool(), Init::RLock)
    }

    /// A new semaphore (Python's `manager.Semaphore(value)`).
    #[doc(alias = "Semaphore")]
    pub fn semaphore(&self, value: usize) -> Result<SemaphoreProxy> {
        let init = Init::Semaphore {
            value: value as u64,
            bounded: false,
        };
        self.create(self.pool(), init)
    }

    /// A new bounded semaphore (Python's `manager.BoundedSemaphore(value)`).
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded_semaphore(&self, value: usize) -> Result<SemaphoreProxy> {
        let init = Init::Semaphore {
            value: value as u64,
            bounded: true,
        };
        self.create(self.pool(), init)
    }

    /// A new event (Python's `manager.Event()`).
    #[doc(alias = "Event")]
    pub fn event(&self) -> Result<EventProxy> {
        self.create(self.pool(), Init::Event)
    }

    /// A new condition variable with its own reentrant lock (Python's
    /// `manager.Condition()`).
    #[doc(alias = "Condition")]
    pub fn condition(&self) -> Result<ConditionProxy> {
        self.create(self.pool(), Init::Condition)
    }

    /// A new barrier (Python's `manager.Barrier(parties)`).
    #[doc(alias = "Barrier")]
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy> {
        self.create(
            self.pool(),
            Init::Barrier {
                parties: parties as u64,
            },
        )
    }

    /// The object registered as `typeid` (Python's `manager.get_queue()`).
    /// [`Error::WrongType`] if it is not what `P` proxies.
    pub fn get<P: Proxy>(&self, typeid: &str) -> Result<P> {
        self.get_with(typeid, &())
    }

    /// Calls registered `typeid` with `args` (Python's
    /// `manager.MyType(*args)`).
    pub fn get_with<P: Proxy, A: Serialize + ?Sized>(&self, typeid: &str, args: &A) -> Result<P> {
        let pool = self.pool();
        let args = postcard::to_allocvec(args).map_err(|e| Error::Encode(e.to_string()))?;
        let request = Request::Typeid {
            typeid: typeid.to_owned(),
            args,
        };
        match pool.request(request, Wait::Now)? {
            Answer::Created { id, kind, typeid } => {
                let object = ObjectRef::new(pool, id, kind, typeid, true);
                check_kind::<P>(&object)?;
                Ok(P::from_object_ref(object))
            }
            other => Err(unexpected(other)),
        }
    }
}
