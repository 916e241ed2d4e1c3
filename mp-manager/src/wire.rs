//! The manager protocol: requests and replies as plain serde data.
//!
//! Every connection starts (after the authkey handshake) with
//! [`Request::Hello`], naming the client's session; then requests and
//! replies alternate, except [`Request::DecRef`], which has no reply. A
//! client on the same machine (a Unix socket) may start with
//! [`Request::HelloPipe`] instead: it hands the server one end of a
//! [`pipe`](mp_pipe::pipe) (shared memory), the server acknowledges on the
//! socket, and both continue on the pipe. The
//! server never executes anything it receives: values are opaque postcard
//! bytes ([`Item`]), operations are the closed set of [`Op`] variants, and
//! user types are reached only through their exposed method names.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::RemoteError;

/// A server object's id (random base + counter, so a restarted server does
/// not reuse ids a stale proxy might still hold).
pub type ObjectId = u64;

/// A client process's session: every connection of one client pool shares
/// it. Holds on objects and lock ownership belong to sessions.
pub(crate) type SessionId = u64;

/// A value as the server stores it: its postcard encoding, and the ids of
/// the objects it refers to (nested proxies), which it keeps alive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The value's encoding (postcard, as the client's proxy wrote it).
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// The objects the value refers to (held while the item is stored).
    pub refs: Vec<ObjectId>,
}

/// What kind of object the server holds (and which proxy type fits it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A list ([`ListProxy`](crate::ListProxy)).
    List,
    /// A dict ([`DictProxy`](crate::DictProxy)).
    Dict,
    /// A namespace ([`Namespace`](crate::Namespace)).
    Namespace,
    /// A single value ([`ValueProxy`](crate::ValueProxy)).
    Value,
    /// A fixed-length array ([`ArrayProxy`](crate::ArrayProxy)).
    Array,
    /// A FIFO queue ([`QueueProxy`](crate::QueueProxy)).
    Queue,
    /// A queue with `task_done`/`join` ([`JoinableQueueProxy`](crate::JoinableQueueProxy)).
    JoinableQueue,
    /// A lock ([`LockProxy`](crate::LockProxy)).
    Lock,
    /// A reentrant lock ([`RLockProxy`](crate::RLockProxy)).
    RLock,
    /// A (possibly bounded) semaphore ([`SemaphoreProxy`](crate::SemaphoreProxy)).
    Semaphore,
    /// An event ([`EventProxy`](crate::EventProxy)).
    Event,
    /// A condition variable with its own reentrant lock ([`ConditionProxy`](crate::ConditionProxy)).
    Condition,
    /// A barrier ([`BarrierProxy`](crate::BarrierProxy)).
    Barrier,
    /// An instance of a registered user type ([`SharedProxy`](crate::SharedProxy)).
    Shared,
    /// An iteration in progress over a list, a dict or a shared object's
    /// iterator method (behind a [`RemoteIter`](crate::RemoteIter)).
    Iterator,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ObjectKind::List => "list",
            ObjectKind::Dict => "dict",
            ObjectKind::Namespace => "Namespace",
            ObjectKind::Value => "Value",
            ObjectKind::Array => "Array",
            ObjectKind::Queue => "Queue",
            ObjectKind::JoinableQueue => "JoinableQueue",
            ObjectKind::Lock => "Lock",
            ObjectKind::RLock => "RLock",
            ObjectKind::Semaphore => "Semaphore",
            ObjectKind::Event => "Event",
            ObjectKind::Condition => "Condition",
            ObjectKind::Barrier => "Barrier",
            ObjectKind::Shared => "shared object",
            ObjectKind::Iterator => "iterator",
        };
        f.write_str(name)
    }
}

/// How long a blocking operation may wait on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    /// Not at all (`try_*`, `blocking=False`).
    Now,
    /// Until it can proceed.
    Forever,
    /// At most this long.
    For(Duration),
}

/// The initial state of a built-in object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(missing_docs, reason = "each variant is the object kind of its name")]
pub enum Init {
    List(Vec<Item>),
    /// Entries as (key encoding, value).
    Dict(Vec<(ByteBuf, Item)>),
    /// Attributes as (name encoding, value).
    Namespace(Vec<(ByteBuf, Item)>),
    Value(Item),
    Array(Vec<Item>),
    /// `maxsize` 0 is unbounded.
    Queue {
        maxsize: u64,
        joinable: bool,
    },
    Lock,
    RLock,
    Semaphore {
        value: u64,
        bounded: bool,
    },
    Event,
    Condition,
    Barrier {
        parties: u64,
    },
}

impl Init {
    /// The kind of object it makes.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Init::List(_) => ObjectKind::List,
            Init::Dict(_) => ObjectKind::Dict,
            Init::Namespace(_) => ObjectKind::Namespace,
            Init::Value(_) => ObjectKind::Value,
            Init::Array(_) => ObjectKind::Array,
            Init::Queue {
                joinable: false, ..
            } => ObjectKind::Queue,
            Init::Queue { joinable: true, .. } => ObjectKind::JoinableQueue,
            Init::Lock => ObjectKind::Lock,
            Init::RLock => ObjectKind::RLock,
            Init::Semaphore { .. } => ObjectKind::Semaphore,
            Init::Event => ObjectKind::Event,
            Init::Condition => ObjectKind::Condition,
            Init::Barrier { .. } => ObjectKind::Barrier,
        }
    }
}

/// The numeric types the server can do arithmetic on (for `fetch_add`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs, reason = "each variant is the Rust type of its name")]
pub enum NumKind {
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
}

/// The arithmetic of a `fetch_*` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NumOp {
    /// `old + delta`.
    Add,
    /// `old - delta`.
    Sub,
}

/// A server-side read-modify-write on a number: `old op delta`, stored back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arith {
    /// The number's type.
    pub kind: NumKind,
    /// The arithmetic.
    pub op: NumOp,
    /// The delta's encoding.
    #[serde(with = "serde_bytes")]
    pub delta: Vec<u8>,
}

/// An operation on one object. The prefix says which kinds accept it:
/// `Seq*` lists and arrays, `Map*` dicts and namespaces, `Val*` values,
/// `Q*` queues, `Lock*` locks, rlocks and conditions, `Sem*` semaphores,
/// `Ev*` events, `Cond*` conditions, `Bar*` barriers. Byte fields are
/// encodings of keys or values to compare with (as the items' `bytes`).
/// Each mirrors the proxy method of its name (`SeqPush`: `append`,
/// `QGet`: `get`, ...); `thread` fields name the caller's thread, which
/// owns the locks it acquires.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(
    missing_docs,
    reason = "each variant mirrors the proxy method of its name"
)]
pub enum Op {
    SeqPush(Item),
    SeqExtend(Vec<Item>),
    SeqGet(u64),
    SeqSet(u64, Item),
    SeqInsert(u64, Item),
    SeqPop(Option<u64>),
    SeqRemove(#[serde(with = "serde_bytes")] Vec<u8>),
    SeqIndex(#[serde(with = "serde_bytes")] Vec<u8>),
    SeqCount(#[serde(with = "serde_bytes")] Vec<u8>),
    SeqLen,
    SeqClear,
    SeqReverse,
    SeqSlice(u64, u64),
    /// All items and the list's version.
    SeqSnapshot,
    /// Replaces every item if the version is unchanged (`Bool(applied)`).
    SeqReplace {
        version: u64,
        items: Vec<Item>,
    },
    /// Reorders the items (`new[i] = old[perm[i]]`) if the version is
    /// unchanged (`Bool(applied)`).
    SeqPermute {
        version: u64,
        perm: Vec<u32>,
    },
    SeqArith(u64, Arith),
    /// Sets the entry and answers its old value.
    MapInsert(#[serde(with = "serde_bytes")] Vec<u8>, Item),
    MapGet(#[serde(with = "serde_bytes")] Vec<u8>),
    MapRemove(#[serde(with = "serde_bytes")] Vec<u8>),
    MapContains(#[serde(with = "serde_bytes")] Vec<u8>),
    MapKeys,
    MapValues,
    MapItems,
    MapLen,
    MapUpdate(Vec<(ByteBuf, Item)>),
    MapSetDefault(#[serde(with = "serde_bytes")] Vec<u8>, Item),
    MapClear,
    MapPopItem,
    /// Sets (or with `None` removes) the entry if its current encoding is
    /// `expected` (`None`: absent).
    MapCompareSwap {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        expected: Option<Vec<u8>>,
        new: Option<Item>,
    },
    /// `entry op delta`, a missing entry counting as zero.
    MapArith(#[serde(with = "serde_bytes")] Vec<u8>, Arith),
    ValGet,
    ValSet(Item),
    ValSwap(Item),
    ValCompareSwap {
        #[serde(with = "serde_bytes")]
        expected: Vec<u8>,
        new: Item,
    },
    ValArith(Arith),
    QPut(Item, Wait),
    QGet(Wait),
    QSize,
    QMaxSize,
    QTaskDone,
    QJoin(Wait),
    LockAcquire {
        thread: u64,
        wait: Wait,
    },
    LockRelease {
        thread: u64,
    },
    LockLocked,
    SemAcquire(Wait),
    SemRelease(u64),
    SemValue,
    EvSet,
    EvClear,
    EvIsSet,
    EvWait(Wait),
    CondWait {
        thread: u64,
        wait: Wait,
    },
    CondNotify {
        thread: u64,
        n: u64,
    },
    BarWait(Wait),
    BarReset,
    BarAbort,
    BarParties,
    BarWaiting,
    BarBroken,
    Method {
        name: String,
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    // New variants go last, so that the others keep their wire index.
    /// Sets the entry of a dict or namespace (Python's `d[k] = v`: nothing
    /// comes back; `MapInsert` answers the old value).
    MapSet(#[serde(with = "serde_bytes")] Vec<u8>, Item),
    /// Shuts a queue down (Python 3.13's `shutdown(immediate)`): puts fail,
    /// gets fail once it is empty; `immediate` empties it first, each
    /// dropped item counting as a task done.
    QShutdown {
        immediate: bool,
    },
    /// Starts iterating a list or an array (`Items`), or a dict or a
    /// namespace (`Items`: pairs, `Keys`, `Values`): answers the first
    /// `batch` entries, and a cursor object for the rest unless done.
    Iterate {
        over: IterOver,
        batch: u32,
    },
    /// Starts iterating what iterator method `name` of a shared object
    /// returns (as [`Op::Iterate`]).
    IterateMethod {
        name: String,
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
        batch: u32,
    },
    /// The next (at most) this many entries of a cursor.
    IterNext(u32),
}

/// What an iteration yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IterOver {
    /// A list's items, a dict's (key, value) pairs, a shared iterator's items.
    Items,
    /// A dict's keys.
    Keys,
    /// A dict's values.
    Values,
}

/// One batch of an iteration: keys (dict keys and pairs), items (list
/// items, dict values and pairs, shared items), the cursor holding the
/// rest (in the first batch only), and whether this is the last batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Batch {
    pub(crate) cursor: Option<ObjectId>,
    pub(crate) keys: Vec<ByteBuf>,
    pub(crate) items: Vec<Item>,
    pub(crate) done: bool,
}

/// A request from a client.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// The first message on every connection: which session it belongs to.
    Hello { session: SessionId },
    /// Creates a built-in object held by this session.
    Create(Init),
    /// Calls a registered typeid (Python's `manager.get_queue()`,
    /// `manager.MyType(args)`).
    Typeid {
        typeid: String,
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// An operation on an object.
    Call { id: ObjectId, op: Op },
    /// Adds a hold on `id` for this session.
    IncRef { id: ObjectId },
    /// Drops a hold on `id` of this session. No reply.
    DecRef { id: ObjectId },
    /// Moves a hold on `id` from session `from` (where a serialized proxy
    /// left it) to this session; a plain `IncRef` if `from` has none.
    Adopt { from: SessionId, id: ObjectId },
    /// Counters about the server (Python's `_debug_info`, `_number_of_objects`).
    DebugInfo,
    /// Instead of `Hello`, on a Unix socket: the session, and the end of a
    /// pipe to serve it on from now on (answered `Unit` on the socket).
    HelloPipe {
        session: SessionId,
        conn: Box<mp_pipe::Connection>,
    },
}

/// A successful answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(
    missing_docs,
    reason = "each variant is the shape of the answer of its name"
)]
pub enum Answer {
    Unit,
    Created {
        id: ObjectId,
        kind: ObjectKind,
        typeid: Option<String>,
    },
    Bool(bool),
    Count(u64),
    Item(Item),
    MaybeItem(Option<Item>),
    Items(Vec<Item>),
    Keys(Vec<ByteBuf>),
    Pairs(Vec<(ByteBuf, Item)>),
    MaybePair(Option<(ByteBuf, Item)>),
    Versioned {
        version: u64,
        items: Vec<Item>,
    },
    /// A compare-and-swap: `Ok` with the old value, or `Err` with the current one.
    Swapped(Result<Option<Item>, Option<Item>>),
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    Info(DebugInfo),
    // New variants go last, so that the others keep their wire index.
    Batch(Batch),
}

/// Counters a server reports (Python's `manager._debug_info()` and
/// `_number_of_objects()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DebugInfo {
    /// Objects alive on the server (including named registered ones, and
    /// released ones during their short grace period).
    pub objects: u64,
    /// Client sessions (one per client process and manager).
    pub sessions: u64,
    /// Open client connections.
    pub connections: u64,
    /// Peers refused because their authkey was wrong.
    pub refused: u64,
    /// Operations waiting for a change right now (a `get` on an empty
    /// queue, an `acquire` of a held lock, a `wait`...). A long wait is
    /// counted all along except for the instants it checks on its client
    /// (every 100 ms).
    pub waiting: u64,
    /// Requests answered so far: each one a client's round trip (releases
    /// of proxies, which get no answer, are not counted).
    pub round_trips: u64,
}

/// Why a request failed (each is the [`Error`](crate::Error) variant of
/// its name).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs, reason = "each variant is the Error variant of its name")]
pub enum Fault {
    UnknownObject(ObjectId),
    WrongKind {
        expected: String,
        found: ObjectKind,
    },
    WrongValue(String),
    IndexOutOfRange {
        index: u64,
        len: u64,
    },
    NoAttribute(String),
    Empty,
    Full,
    BrokenBarrier,
    NotOwner,
    TooManyReleases,
    UnknownTypeid(String),
    NotExposed(String),
    /// The request was too large; the server closes this connection.
    MessageTooLarge {
        len: u64,
        limit: u64,
    },
    BadRequest(String),
    Remote(RemoteError),
    ShuttingDown,
    // New variants go last, so that the others keep their wire index.
    /// The queue was shut down (Python's `queue.ShutDown`).
    QueueShutDown,
}

/// The reply to every request but `Hello` and `DecRef`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Reply(pub(crate) Result<Answer, Fault>);

#[cfg(test)]
mod tests {
    use super::*;

    /// `Item` and `MapCompareSwap` as they were before their byte fields
    /// were byte strings (plain `Vec<u8>`, a sequence of `u8`).
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct PlainItem {
        bytes: Vec<u8>,
        refs: Vec<ObjectId>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct PlainSwap {
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
    }

    #[test]
    fn byte_fields_keep_the_encoding_of_a_sequence_of_u8() {
        let bytes: Vec<u8> = (0..=255).collect();
        let item = Item {
            bytes: bytes.clone(),
            refs: vec![7, 1 << 40],
        };
        let plain = PlainItem {
            bytes,
            refs: item.refs.clone(),
        };
        let encoded = postcard::to_allocvec(&item).unwrap();
        assert_eq!(encoded, postcard::to_allocvec(&plain).unwrap());
        assert_eq!(postcard::from_bytes::<Item>(&encoded).unwrap(), item);

        // Keys inside lists and pairs (`Answer::Keys`, `Op::MapUpdate`, ...).
        let keys: Vec<Vec<u8>> = vec![Vec::new(), b"key".to_vec(), (0..=255).collect()];
        let bufs: Vec<ByteBuf> = keys.iter().cloned().map(ByteBuf::from).collect();
        let encoded = postcard::to_allocvec(&bufs).unwrap();
        assert_eq!(encoded, postcard::to_allocvec(&keys).unwrap());
        assert_eq!(
            postcard::from_bytes::<Vec<ByteBuf>>(&encoded).unwrap(),
            bufs
        );

        for expected in [None, Some(Vec::new()), Some(b"old".to_vec())] {
            let plain = PlainSwap {
                key: b"key".to_vec(),
                expected: expected.clone(),
            };
            let op = Op::MapCompareSwap {
                key: b"key".to_vec(),
                expected,
                new: None,
            };
            let mut encoded = postcard::to_allocvec(&op).unwrap();
            // Variant index, then the fields; `new: None` is the last byte.
            assert_eq!(encoded.pop(), Some(0));
            assert_eq!(encoded[1..], postcard::to_allocvec(&plain).unwrap());
            match postcard::from_bytes::<Op>(&postcard::to_allocvec(&op).unwrap()).unwrap() {
                Op::MapCompareSwap { key, expected, .. } => {
                    assert_eq!(PlainSwap { key, expected }, plain);
                }
                other => panic!("decoded as {other:?}"),
            }
        }
    }
}
