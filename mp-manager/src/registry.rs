//! What a server offers beyond the built-in objects: named shared objects
//! and user types (Python's `BaseManager.register`).

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, RemoteError, Result};
use crate::wire::{Init, Item};

/// A user type whose instances live on the server and are used through a
/// [`SharedProxy`](crate::SharedProxy) (Python's custom types registered with
/// a `BaseManager`).
///
/// Clients can call only the methods named by [`exposed`](Shared::exposed);
/// any other name is an [`Error::NotExposed`] for
/// that caller. Arguments and results are postcard bytes: decode them with
/// [`decode_args`] and encode with [`encode_result`]. Calls on one instance
/// are serialized (`&mut self`); a panic in a method is a remote error for
/// that call, and the server keeps going.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(manager), "::{RemoteError, Shared, decode_args, encode_result};")]
///
/// struct Counter(i64);
///
/// impl Shared for Counter {
///     fn exposed() -> &'static [&'static str] {
///         &["add", "get"]
///     }
///
///     fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, RemoteError> {
///         match method {
///             "add" => {
///                 let (n,): (i64,) = decode_args(args)?;
///                 self.0 += n;
///                 encode_result(&self.0)
///             }
///             "get" => encode_result(&self.0),
///             _ => Err(RemoteError::new(format!("no method {method}"))),
///         }
///     }
/// }
/// ```
pub trait Shared: Send + 'static {
    /// The methods clients may call (Python's `exposed`).
    fn exposed() -> &'static [&'static str]
    where
        Self: Sized;

    /// Runs `method` with postcard-encoded `args`; returns the encoded result.
    fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, RemoteError>;

    /// The methods that return an iterator (Python's `method_to_typeid`
    /// giving a method the `Iterator` proxy): clients iterate them with
    /// [`SharedProxy::iter`](crate::SharedProxy::iter), a batch of items
    /// per round trip. None by default.
    fn iterators() -> &'static [&'static str]
    where
        Self: Sized,
    {
        &[]
    }

    /// Starts iterator method `method` with postcard-encoded `args`: the
    /// items, each encoded with [`encode_result`]. The server pulls it a
    /// batch at a time as the client iterates and drops it when the
    /// client's iterator is dropped (or the client goes away), so it must
    /// own what it yields: a snapshot, or state of its own, like a Python
    /// generator. An `Err` item ends the iteration with that error.
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(manager), "::{RemoteError, Shared, SharedIter, decode_args, encode_result};")]
    ///
    /// struct Squares;
    ///
    /// impl Shared for Squares {
    ///     fn exposed() -> &'static [&'static str] {
    ///         &[]
    ///     }
    ///     fn call(&mut self, method: &str, _: &[u8]) -> Result<Vec<u8>, RemoteError> {
    ///         Err(RemoteError::new(format!("no method {method}")))
    ///     }
    ///     fn iterators() -> &'static [&'static str] {
    ///         &["up_to"]
    ///     }
    ///     fn iterate(&mut self, _: &str, args: &[u8]) -> Result<SharedIter, RemoteError> {
    ///         let (n,): (u64,) = decode_args(args)?;
    ///         Ok(Box::new((0..n).map(|i| encode_result(&(i * i)))))
    ///     }
    /// }
    /// ```
    fn iterate(&mut self, method: &str, args: &[u8]) -> Result<SharedIter, RemoteError> {
        let _ = args;
        Err(RemoteError::new(format!("no iterator method {method}")))
    }
}

/// What [`Shared::iterate`] returns: encoded items, made on the server as
/// the client asks for them.
pub type SharedIter = Box<dyn Iterator<Item = Result<Vec<u8>, RemoteError>> + Send>;

/// Decodes the arguments of a [`Shared::call`].
pub fn decode_args<A: DeserializeOwned>(args: &[u8]) -> Result<A, RemoteError> {
    mp_internal::codec::from_bytes_exact(args)
        .map_err(|e| RemoteError::new(format!("bad arguments: {e}")))
}

/// Encodes the result of a [`Shared::call`].
pub fn encode_result<R: Serialize + ?Sized>(result: &R) -> Result<Vec<u8>, RemoteError> {
    postcard::to_allocvec(result)
        .map_err(|e| RemoteError::new(format!("cannot encode the result: {e}")))
}

/// An object to be created on the server: a built-in (list, queue, ...) with
/// its initial contents, or an instance of a [`Shared`] type.
pub struct ServerObject(pub(crate) Blueprint);

pub(crate) enum Blueprint {
    Builtin(Init),
    Shared {
        value: Box<dyn Shared>,
        exposed: &'static [&'static str],
        iterators: &'static [&'static str],
        type_name: &'static str,
    },
}

fn plain_item<T: Serialize + ?Sized>(value: &T) -> Result<Item> {
    Ok(Item {
        bytes: postcard::to_allocvec(value).map_err(|e| Error::Encode(e.to_string()))?,
        refs: Vec::new(),
    })
}

impl ServerObject {
    /// An empty list.
    pub fn list() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::List(Vec::new())))
    }

    /// A list of `items`.
    pub fn list_from<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<ServerObject> {
        let items = items
            .into_iter()
            .map(|i| plain_item(&i))
            .collect::<Result<_>>()?;
        Ok(ServerObject(Blueprint::Builtin(Init::List(items))))
    }

    /// An empty dict.
    pub fn dict() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Dict(Vec::new())))
    }

    /// A dict of `pairs`.
    pub fn dict_from<K: Serialize, V: Serialize>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ServerObject> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((plain_item(&k)?.bytes.into(), plain_item(&v)?)))
            .collect::<Result<_>>()?;
        Ok(ServerObject(Blueprint::Builtin(Init::Dict(pairs))))
    }

    /// An empty namespace.
    pub fn namespace() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Namespace(Vec::new())))
    }

    /// A value.
    pub fn value<T: Serialize + ?Sized>(value: &T) -> Result<ServerObject> {
        Ok(ServerObject(Blueprint::Builtin(Init::Value(plain_item(
            value,
        )?))))
    }

    /// A fixed-length array of `items`.
    pub fn array<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<ServerObject> {
        let items = items
            .into_iter()
            .map(|i| plain_item(&i))
            .collect::<Result<_>>()?;
        Ok(ServerObject(Blueprint::Builtin(Init::Array(items))))
    }

    /// An unbounded queue.
    pub fn queue() -> ServerObject {
        ServerObject::bounded_queue(0)
    }

    /// A queue holding at most `maxsize` items (0: unbounded).
    pub fn bounded_queue(maxsize: usize) -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Queue {
            maxsize: maxsize as u64,
            joinable: false,
        }))
    }

    /// An unbounded joinable queue.
    pub fn joinable_queue() -> ServerObject {
        ServerObject::bounded_joinable_queue(0)
    }

    /// A joinable queue holding at most `maxsize` items (0: unbounded).
    pub fn bounded_joinable_queue(maxsize: usize) -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Queue {
            maxsize: maxsize as u64,
            joinable: true,
        }))
    }

    /// A lock.
    pub fn lock() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Lock))
    }

    /// A reentrant lock.
    pub fn rlock() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::RLock))
    }

    /// A semaphore with `value` permits.
    pub fn semaphore(value: usize) -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Semaphore {
            value: value as u64,
            bounded: false,
        }))
    }

    /// A semaphore that refuses to be released above `value`.
    pub fn bounded_semaphore(value: usize) -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Semaphore {
            value: value as u64,
            bounded: true,
        }))
    }

    /// An event (initially clear).
    pub fn event() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Event))
    }

    /// A condition variable with its own reentrant lock.
    pub fn condition() -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Condition))
    }

    /// A barrier for `parties` waiters.
    pub fn barrier(parties: usize) -> ServerObject {
        ServerObject(Blueprint::Builtin(Init::Barrier {
            parties: parties as u64,
        }))
    }

    /// An instance of a user type.
    pub fn shared<T: Shared>(value: T) -> ServerObject {
        ServerObject(Blueprint::Shared {
            value: Box::new(value),
            exposed: T::exposed(),
            iterators: T::iterators(),
            type_name: std::any::type_name::<T>(),
        })
    }
}

impl fmt::Debug for ServerObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Blueprint::Builtin(init) => write!(f, "ServerObject({})", init.kind()),
            Blueprint::Shared { type_name, .. } => write!(f, "ServerObject({type_name})"),
        }
    }
}

pub(crate) type Callable =
    Arc<dyn Fn(&[u8]) -> Result<ServerObject, RemoteError> + Send + Sync + 'static>;

pub(crate) enum Entry {
    /// One object, created when the server starts; every request returns it.
    Object(ServerObject),
    /// Called with the request's arguments; returns a new object.
    Callable(Callable),
}

/// The typeids a server offers (what Python's `BaseManager.register` calls
/// build up). Filled by [`Registry::register`] in the server process, or by
/// [`BaseManager::register`](crate::BaseManager::register) and friends.
#[derive(Default)]
pub struct Registrar {
    pub(crate) entries: Vec<(String, Entry)>,
    pub(crate) services: Vec<Service>,
}

/// A protocol adapter's body (see [`Registrar::serve_also`]).
pub(crate) type Service = Box<dyn FnOnce(crate::adapter::ObjectTable) + Send + 'static>;

impl Registrar {
    /// An empty registrar.
    pub fn new() -> Registrar {
        Registrar::default()
    }

    /// Makes `typeid` return `object`, one object shared by every caller
    /// (Python's `register("get_queue", callable=lambda: queue)`). The object
    /// lives as long as the server.
    pub fn register(&mut self, typeid: impl Into<String>, object: ServerObject) -> &mut Self {
        self.add(typeid.into(), Entry::Object(object))
    }

    /// Makes `typeid` call `callable` with the request's encoded arguments;
    /// each call returns a new object (Python's `register(typeid, callable)`).
    pub fn register_with<F>(&mut self, typeid: impl Into<String>, callable: F) -> &mut Self
    where
        F: Fn(&[u8]) -> Result<ServerObject, RemoteError> + Send + Sync + 'static,
    {
        self.add(typeid.into(), Entry::Callable(Arc::new(callable)))
    }

    /// Makes `typeid` construct a new `T` from the request's arguments `A`
    /// (Python's `register("Counter", Counter)`).
    pub fn register_type<T, A, F>(&mut self, typeid: impl Into<String>, constructor: F) -> &mut Self
    where
        T: Shared,
        A: DeserializeOwned,
        F: Fn(A) -> T + Send + Sync + 'static,
    {
        self.register_with(typeid, move |args| {
            Ok(ServerObject::shared(constructor(decode_args(args)?)))
        })
    }

    /// Runs `service` on a thread of its own in the server process once
    /// the server serves, with the server's [`ObjectTable`](crate::adapter::ObjectTable):
    /// how a protocol adapter (mp-python's server for Python clients)
    /// serves clients of another wire from the same objects as mp's own
    /// clients.
    pub fn serve_also<F>(&mut self, service: F) -> &mut Self
    where
        F: FnOnce(crate::adapter::ObjectTable) + Send + 'static,
    {
        self.services.push(Box::new(service));
        self
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.services.is_empty()
    }

    fn add(&mut self, typeid: String, entry: Entry) -> &mut Self {
        self.entries.retain(|(name, _)| *name != typeid);
        self.entries.push((typeid, entry));
        self
    }
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(name, _)| name))
            .entries((0..self.services.len()).map(|i| format!("service {i}")))
            .finish()
    }
}

/// The registrations of a manager type, made in the server process (like
/// the class-level `register` calls of a Python `BaseManager` subclass,
/// which every process that imports the module runs).
///
/// A started server is a fresh process under `Spawn` and `Forkserver`, so
/// its registrations must come from code, not from the starting process's
/// memory: implement this trait on a unit struct and pass it to
/// [`BaseManager::registry`](crate::BaseManager::registry).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(manager), "::{Registrar, Registry, ServerObject};")]
///
/// struct QueueManager;
///
/// impl Registry for QueueManager {
///     fn register(registrar: &mut Registrar) {
///         registrar.register("get_queue", ServerObject::queue());
///     }
/// }
/// ```
pub trait Registry: 'static {
    /// Registers this manager type's typeids.
    fn register(registrar: &mut Registrar);
}

impl Registry for () {
    fn register(_: &mut Registrar) {}
}
