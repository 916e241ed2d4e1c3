//! What every proxy is made of: an [`ObjectRef`], a counted reference to
//! one server object, and how references (and values holding them) are
//! encoded.
//!
//! Reference counting works like CPython's `incref`/`decref`, with holds
//! owned by client *sessions* (see `client`): a reference made by `create`,
//! returned in a reply, or received as an argument holds its object once;
//! clones share that hold; the last clone's drop releases it.
//!
//! A reference serializes as a token (address, id, kind). Three cases:
//!
//! - Inside a value stored on its own server (a list of dict proxies): the
//!   token names no address and the request lists the id in the item's
//!   `refs`, so the server keeps the object alive while the item exists, and
//!   grants the reader's session a hold when it hands the item out.
//! - Anywhere else (a child process's arguments, a message on a
//!   `Connection`): serializing asks the server for a hold parked in this
//!   session, and the receiver adopts it, so the object survives even if the
//!   sender drops its proxy before the receiver decodes. (A hold parked for
//!   a receiver that never decodes is released when the sender's session
//!   ends. A proxy of another manager stored inside a manager's object keeps
//!   its object alive while the storing process's session lasts.)
//! - A `fork` child has a copy of the reference in memory: on first use
//!   it re-homes the reference to its own session (see [`Link`]).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use mp_pipe::Address;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::{Link, Pool, Transport};
use crate::error::{Error, Result};
use crate::wire::{Answer, Item, ObjectId, ObjectKind, Op, Request, SessionId, Wait};

/// A counted reference to one server object (the core of every proxy):
/// while one exists in any process, the object lives.
#[doc(hidden)]
pub struct ObjectRef(Arc<Inner>);

struct Inner {
    id: ObjectId,
    kind: ObjectKind,
    typeid: Option<String>,
    /// The pool the reference was made with, which is the pool of the
    /// process that made it: that process reaches it without a lock.
    home: Arc<Pool>,
    link: Mutex<LinkState>,
}

/// The pool a call goes through: the reference's own (borrowed) in the
/// process that made it, or the one a forked child re-homed it to.
pub(crate) enum PoolRef<'a> {
    Home(&'a Arc<Pool>),
    Rehomed(Arc<Pool>),
}

impl std::ops::Deref for PoolRef<'_> {
    type Target = Arc<Pool>;

    fn deref(&self) -> &Arc<Pool> {
        match self {
            PoolRef::Home(pool) => pool,
            PoolRef::Rehomed(pool) => pool,
        }
    }
}

struct LinkState {
    link: Link,
    /// Whether this process's session holds the object for this reference.
    held: bool,
}

impl ObjectRef {
    pub(crate) fn new(
        pool: Arc<Pool>,
        id: ObjectId,
        kind: ObjectKind,
        typeid: Option<String>,
        held: bool,
    ) -> ObjectRef {
        ObjectRef(Arc::new(Inner {
            id,
            kind,
            typeid,
            home: pool.clone(),
            link: Mutex::new(LinkState {
                link: Link::new(pool),
                held,
            }),
        }))
    }

    pub(crate) fn kind(&self) -> ObjectKind {
        self.0.kind
    }

    pub(crate) fn typeid(&self) -> Option<&str> {
        self.0.typeid.as_deref()
    }

    /// This process's pool for the object's server. In a forked child the
    /// first call takes a hold for the child's own session.
    pub(crate) fn pool(&self) -> PoolRef<'_> {
        // Every call starts here: in the process that made the reference
        // it costs a comparison, not a lock and two reference counts.
        if self.0.home.is_ours() {
            return PoolRef::Home(&self.0.home);
        }
        let mut state = self.0.link.lock();
        let (pool, rehomed) = state.link.pool();
        if rehomed {
            state.held = pool
                .request(Request::IncRef { id: self.0.id }, Wait::Now)
                .is_ok();
        }
        PoolRef::Rehomed(pool)
    }

    /// Runs `op` on the object through `pool` (this process's pool, from
    /// [`pool`](ObjectRef::pool)); `wait` bounds how long it may block.
    pub(crate) fn call_on(&self, pool: &Pool, op: Op, wait: Wait) -> Result<Answer> {
        pool.request(Request::Call { id: self.0.id, op }, wait)
    }

    /// Runs a non-blocking `op` through `pool`.
    pub(crate) fn op_on(&self, pool: &Pool, op: Op) -> Result<Answer> {
        self.call_on(pool, op, Wait::Now)
    }

    /// Runs `op` on the object; `wait` bounds how long it may block. The
    /// pool it went through comes back with the answer (for decoding what
    /// the answer refers to).
    pub(crate) fn call(&self, op: Op, wait: Wait) -> Result<(PoolRef<'_>, Answer)> {
        let pool = self.pool();
        let answer = self.call_on(&pool, op, wait)?;
        Ok((pool, answer))
    }

    /// Runs a non-blocking `op`.
    pub(crate) fn op(&self, op: Op) -> Result<(PoolRef<'_>, Answer)> {
        self.call(op, Wait::Now)
    }

    /// Atomically updates the entry `key` of a dict or namespace: `f` gets
    /// a copy of the value (`None` if missing) to change, `None` afterwards
    /// removes the entry. Returns what `f` returned the time it stuck (see
    /// [`compare_swap`](ObjectRef::compare_swap)).
    pub(crate) fn update_entry<T, R>(
        &self,
        key: Vec<u8>,
        f: impl FnMut(&mut Option<T>) -> R,
    ) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
        let swap = |expected, new| {
            Ok(Op::MapCompareSwap {
                key: key.clone(),
                expected,
                new,
            })
        };
        self.compare_swap(Op::MapGet(key.clone()), swap, f)
    }

    /// A read-modify-write as a compare-and-swap loop: `read` fetches the
    /// current item (`None`: absent), `f` changes a decoded copy, and the op
    /// built by `swap(expected, new)` stores the copy if the server still
    /// has `expected`; if another call changed it meanwhile, `f` runs again
    /// on the new value. Returns what `f` returned the time it stuck.
    pub(crate) fn compare_swap<T, R>(
        &self,
        read: Op,
        swap: impl Fn(Option<Vec<u8>>, Option<Item>) -> Result<Op>,
        mut f: impl FnMut(&mut Option<T>) -> R,
    ) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
        let pool = self.pool();
        let mut current = match self.op_on(&pool, read)? {
            Answer::MaybeItem(item) => item,
            Answer::Item(item) => Some(item),
            other => return Err(unexpected(other)),
        };
        loop {
            let expected = current.as_ref().map(|i| i.bytes.clone());
            let mut value: Option<T> = current
                .take()
                .map(|item| decode_item(&pool, item))
                .transpose()?;
            let result = f(&mut value);
            let new = value.as_ref().map(|v| encode_item(&pool, v)).transpose()?;
            match self.op_on(&pool, swap(expected, new)?)? {
                Answer::Swapped(Ok(old)) => {
                    // The replaced value's holds came back to us: let them go.
                    if let Some(old) = old {
                        decode_with(&pool, old.refs, || Ok(()))?;
                    }
                    return Ok(result);
                }
                Answer::Swapped(Err(now)) => current = now,
                other => return Err(unexpected(other)),
            }
        }
    }
}

impl Clone for ObjectRef {
    fn clone(&self) -> ObjectRef {
        ObjectRef(self.0.clone())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.link.get_mut();
        if state.held {
            if let Some(pool) = state.link.current() {
                pool.post(&Request::DecRef { id: self.id });
            }
        }
    }
}

impl ObjectRef {
    /// Formats the reference as proxy type `name` (for the proxies' `Debug`).
    pub(crate) fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.0.link.lock();
        let mut s = f.debug_struct(name);
        s.field("kind", &self.0.kind)
            .field("id", &format_args!("{:x}", self.0.id));
        if let Some(typeid) = &self.0.typeid {
            s.field("typeid", typeid);
        }
        if let Some(pool) = state.link.current() {
            s.field("address", &format_args!("{}", pool.address));
        }
        s.finish()
    }
}

impl fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_as("ObjectRef", f)
    }
}

/// How a token says which key to connect with.
#[derive(Serialize, Deserialize)]
enum Auth {
    /// The receiving process's own authkey (children inherit it).
    Inherit,
    /// No authkey (a Unix-socket manager without one).
    None,
    /// This key (a manager with a key other than the process's).
    Key(Vec<u8>),
}

/// A reference as data (CPython's `Token` plus what is needed to reconnect).
#[derive(Serialize, Deserialize)]
struct Token {
    id: ObjectId,
    kind: ObjectKind,
    typeid: Option<String>,
    /// `None`: the server the enclosing value is stored on.
    address: Option<Address>,
    auth: Auth,
    /// How to reach the server beyond address and key (TLS).
    transport: Transport,
    /// The session that parked a hold for the receiver.
    from: Option<SessionId>,
}

/// The encoding in progress on this thread for a value stored on a server.
struct StoreCtx {
    /// The server's [`Pool::server`] (a number, not the pool: every write
    /// through a proxy makes one of these).
    server: u64,
    refs: Vec<ObjectId>,
}

impl StoreCtx {
    fn new(pool: &Pool) -> StoreCtx {
        StoreCtx {
            server: pool.server,
            refs: Vec::new(),
        }
    }

    /// The references noted, in the order the server expects.
    fn sorted_refs(mut self) -> Vec<ObjectId> {
        self.refs.sort_unstable();
        self.refs
    }
}

/// The decoding in progress on this thread of a value from a server.
struct LoadCtx {
    pool: Arc<Pool>,
    /// Holds the server granted this session for the references in the value.
    grants: Vec<ObjectId>,
}

thread_local! {
    static STORE: RefCell<Option<StoreCtx>> = const { RefCell::new(None) };
    static LOAD: RefCell<Option<LoadCtx>> = const { RefCell::new(None) };
}

/// Puts the previous context back when dropped (also on panic).
struct Restore<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    previous: Option<Option<T>>,
}

impl<T> Restore<T> {
    fn install(key: &'static std::thread::LocalKey<RefCell<Option<T>>>, ctx: T) -> Restore<T> {
        let previous = key.with(|c| c.borrow_mut().replace(ctx));
        Restore {
            key,
            previous: Some(previous),
        }
    }

    fn take(mut self) -> Option<T> {
        let previous = self.previous.take().expect("taken once");
        self.key
            .with(|c| std::mem::replace(&mut *c.borrow_mut(), previous))
    }
}

impl<T> Drop for Restore<T> {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            self.key.with(|c| *c.borrow_mut() = previous);
        }
    }
}

impl Serialize for ObjectRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let pool = self.pool();
        let stored_here = STORE.with(|c| {
            let mut ctx = c.borrow_mut();
            match ctx.as_mut() {
                Some(ctx) if ctx.server == pool.server => {
                    ctx.refs.push(self.0.id);
                    true
                }
                _ => false,
            }
        });
        let token = if stored_here {
            Token {
                id: self.0.id,
                kind: self.0.kind,
                typeid: self.0.typeid.clone(),
                address: None,
                auth: Auth::Inherit,
                transport: Transport::default(),
                from: None,
            }
        } else {
            // Park a hold for the receiver (the sender may drop its proxy
            // before the receiver decodes). If the manager is gone the
            // receiver gets a proxy that reports it.
            let parked = pool
                .request(Request::IncRef { id: self.0.id }, Wait::Now)
                .is_ok();
            let own = mp_process::current_process().authkey().to_vec();
            let auth = match &pool.authkey {
                None => Auth::None,
                Some(key) if *key == own => Auth::Inherit,
                Some(key) => Auth::Key(key.clone()),
            };
            Token {
                id: self.0.id,
                kind: self.0.kind,
                typeid: self.0.typeid.clone(),
                address: Some(pool.address.clone()),
                auth,
                transport: pool.transport.clone(),
                from: parked.then_some(pool.session),
            }
        };
        token.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ObjectRef {
    fn deserialize<D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<ObjectRef, D::Error> {
        let token = Token::deserialize(deserializer)?;
        // A value read from a server: adopt the hold it granted.
        let from_load = LOAD.with(|c| {
            let mut ctx = c.borrow_mut();
            let ctx = ctx.as_mut()?;
            if token
                .address
                .as_ref()
                .is_some_and(|a| *a != ctx.pool.address)
            {
                return None;
            }
            let granted = match ctx.grants.iter().position(|&g| g == token.id) {
                Some(i) => {
                    ctx.grants.swap_remove(i);
                    true
                }
                None => false,
            };
            Some((ctx.pool.clone(), granted))
        });
        let (pool, held) = match from_load {
            Some((pool, true)) => (pool, true),
            Some((pool, false)) => {
                let held = pool
                    .request(Request::IncRef { id: token.id }, Wait::Now)
                    .is_ok();
                (pool, held)
            }
            None => {
                let address = token.address.ok_or_else(|| {
                    serde::de::Error::custom(
                        "a proxy token without an address outside of its manager",
                    )
                })?;
                let own;
                let key = match &token.auth {
                    Auth::Inherit => {
                        own = mp_process::current_process().authkey().to_vec();
                        Some(own.as_slice())
                    }
                    Auth::None => None,
                    Auth::Key(key) => Some(key.as_slice()),
                };
                let pool = Pool::get(&address, key, &token.transport);
                // A proxy of another manager stored inside a manager's object
                // may be read many times: readers take their own holds and
                // leave the parked one (owned by the storing process).
                let stored_elsewhere = LOAD.with(|c| c.borrow().is_some());
                let request = match token.from {
                    Some(from) if !stored_elsewhere => Request::Adopt { from, id: token.id },
                    _ => Request::IncRef { id: token.id },
                };
                let held = pool.request(request, Wait::Now).is_ok();
                (pool, held)
            }
        };
        Ok(ObjectRef::new(
            pool,
            token.id,
            token.kind,
            token.typeid,
            held,
        ))
    }
}

/// Encodes `value` to store on `pool`'s server, noting the references inside.
pub(crate) fn encode_item<T: Serialize + ?Sized>(pool: &Arc<Pool>, value: &T) -> Result<Item> {
    let guard = Restore::install(&STORE, StoreCtx::new(pool));
    let bytes = encode(value);
    let ctx = guard.take().expect("installed above");
    Ok(Item {
        bytes: bytes?,
        refs: ctx.sorted_refs(),
    })
}

/// Encodes a key or a value to compare with (references inside are compared,
/// not held).
pub(crate) fn encode_key<T: Serialize + ?Sized>(pool: &Arc<Pool>, value: &T) -> Result<Vec<u8>> {
    encode_item(pool, value).map(|item| item.bytes)
}

/// [`encode_key`] and [`encode_item`] of a dict entry at once (one encoding
/// context for both).
pub(crate) fn encode_entry<K, V>(pool: &Arc<Pool>, key: &K, value: &V) -> Result<(Vec<u8>, Item)>
where
    K: Serialize + ?Sized,
    V: Serialize + ?Sized,
{
    let guard = Restore::install(&STORE, StoreCtx::new(pool));
    let key = encode(key)?;
    // The key's references are only compared; the item holds the value's.
    let of_key = STORE.with(|c| c.borrow().as_ref().map_or(0, |ctx| ctx.refs.len()));
    let bytes = encode(value);
    let mut ctx = guard.take().expect("installed above");
    ctx.refs.drain(..of_key);
    Ok((
        key,
        Item {
            bytes: bytes?,
            refs: ctx.sorted_refs(),
        },
    ))
}

/// One value's postcard encoding.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    // Room for small values up front (growing from empty costs a
    // reallocation on the way).
    postcard::to_extend(value, Vec::with_capacity(16)).map_err(|e| Error::Encode(e.to_string()))
}

/// Decodes values from `pool`'s server; `refs` are the holds it granted
/// for the references inside them. Grants no reference took are released.
pub(crate) fn decode_with<R>(
    pool: &Arc<Pool>,
    refs: Vec<ObjectId>,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let guard = Restore::install(
        &LOAD,
        LoadCtx {
            pool: pool.clone(),
            grants: refs,
        },
    );
    let result = f();
    let ctx = guard.take().expect("installed above");
    for id in ctx.grants {
        pool.post(&Request::DecRef { id });
    }
    result
}

/// Decodes one value of a postcard encoding, exactly (trailing bytes mean
/// the stored value is of another type).
pub(crate) fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    mp_internal::codec::from_bytes_exact(bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// Decodes one item from `pool`'s server.
pub(crate) fn decode_item<T: DeserializeOwned>(pool: &Arc<Pool>, item: Item) -> Result<T> {
    if item.refs.is_empty() {
        // No reference to this server inside (each one would be in `refs`).
        return decode_exact(&item.bytes);
    }
    decode_with(pool, item.refs, || decode_exact(&item.bytes))
}

/// Decodes items from `pool`'s server.
pub(crate) fn decode_items<T: DeserializeOwned>(
    pool: &Arc<Pool>,
    items: Vec<Item>,
) -> Result<Vec<T>> {
    let refs = items.iter().flat_map(|i| i.refs.iter().copied()).collect();
    decode_with(pool, refs, || {
        items.iter().map(|item| decode_exact(&item.bytes)).collect()
    })
}

/// An answer of an unexpected shape (a server speaking another version).
pub(crate) fn unexpected(answer: Answer) -> Error {
    Error::BadRequest(format!("unexpected answer from the manager: {answer:?}"))
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A proxy type: something [`Manager::get`](crate::Manager::get) can return.
///
/// Implemented by every proxy of this crate (sealed).
pub trait Proxy: sealed::Sealed + Sized + Send + Sync {
    /// Whether objects of `kind` can be used through this proxy type.
    fn accepts(kind: ObjectKind) -> bool;

    #[doc(hidden)]
    fn from_object_ref(object: ObjectRef) -> Self;

    #[doc(hidden)]
    fn object_ref(&self) -> &ObjectRef;
}

/// Checks a decoded reference's kind for proxy type `P`.
pub(crate) fn check_kind<P: Proxy>(object: &ObjectRef) -> Result<()> {
    if P::accepts(object.kind()) {
        Ok(())
    } else {
        Err(Error::WrongType {
            expected: std::any::type_name::<P>().to_owned(),
            found: object.kind().to_string(),
        })
    }
}

/// Implements the proxy plumbing (sealing, serde, Clone, Debug) for a proxy
/// struct with an `object` field and a `PhantomData` field `_types`.
macro_rules! proxy_plumbing {
    ($name:ident $(<$($g:ident),*>)?, [$($kind:ident),*]) => {
        impl$(<$($g),*>)? crate::object_ref::sealed::Sealed for $name$(<$($g),*>)? {}

        impl$(<$($g),*>)? crate::object_ref::Proxy for $name$(<$($g),*>)? {
            fn accepts(kind: crate::wire::ObjectKind) -> bool {
                matches!(kind, $(crate::wire::ObjectKind::$kind)|*)
            }

            fn from_object_ref(object: crate::object_ref::ObjectRef) -> Self {
                $name {
                    object,
                    _types: std::marker::PhantomData,
                }
            }

            fn object_ref(&self) -> &crate::object_ref::ObjectRef {
                &self.object
            }
        }

        impl$(<$($g),*>)? Clone for $name$(<$($g),*>)? {
            /// Another proxy of the same object (no server round trip).
            fn clone(&self) -> Self {
                $name {
                    object: self.object.clone(),
                    _types: std::marker::PhantomData,
                }
            }
        }

        impl$(<$($g),*>)? std::fmt::Debug for $name$(<$($g),*>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.object.fmt_as(stringify!($name), f)
            }
        }

        impl$(<$($g),*>)? serde::Serialize for $name$(<$($g),*>)? {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.object.serialize(s)
            }
        }

        impl<'de $($(, $g)*)?> serde::Deserialize<'de> for $name$(<$($g),*>)? {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let object = crate::object_ref::ObjectRef::deserialize(d)?;
                crate::object_ref::check_kind::<Self>(&object).map_err(serde::de::Error::custom)?;
                Ok(<Self as crate::object_ref::Proxy>::from_object_ref(object))
            }
        }
    };
}

pub(crate) use proxy_plumbing;
