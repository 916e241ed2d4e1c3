//! CPython's `multiprocessing` wire, so Python and Rust processes can share
//! connections: the connection framing, the authkey handshake in both the
//! Python 3.11 and 3.12+ forms, and pickle decoded as data only.
//!
//! # Example
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(python), "::{PyValue, decode, from_pickle, to_pickle};")]
#![doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(python), "::Error> {")]
//! // What `pickle.dumps({'a': [1, 2**70]}, protocol=4)` writes:
//! let bytes = b"\x80\x04\x95\x19\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01\
//!               \x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@es.";
//! let value = decode(bytes)?;
//! let PyValue::Dict(pairs) = &value else { panic!("a dict") };
//! assert_eq!(pairs[0].0, PyValue::str("a"));
//! let typed: std::collections::HashMap<String, Vec<u128>> = from_pickle(bytes)?;
//! assert_eq!(typed["a"], [1, 1 << 70]);
//!
//! // A pickle naming anything off the allow-list is refused, by name:
//! let evil = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
//! let err = decode(evil).unwrap_err();
//! assert!(err.to_string().contains("os.system"));
//!
//! // And back: Python's `pickle.loads` reads this.
//! let bytes = to_pickle(&("#RETURN", vec![1.5, f64::INFINITY]))?;
//! assert_eq!(decode(&bytes)?.as_seq().map(|s| s.len()), Some(2));
//! # Ok(())
//! # }
//! ```
//!
//! # Pickle as data
//!
//! [`decode`] reads protocols 2 to 5 (and the protocol 0/1 opcodes CPython
//! still uses in them) into a [`PyValue`]. Nothing is imported, called or
//! constructed by name: the globals the protocols use to spell data
//! (`builtins.set`/`frozenset`/`list`/`bytearray`/`bytes`, `_codecs.encode` for
//! protocol 2 bytes, `copyreg._reconstructor`/`__newobj__`) become plain
//! values, the classes on the [`AllowList`] (exceptions, `queue.Empty`, the
//! manager's `Token`, `RebuildProxy`, `AutoProxy`, ...) become
//! [`PyObject`]s (class name, arguments, state), and any other global is an
//! [`ErrorKind::ForbiddenGlobal`] naming it. Decoding is an iterative state
//! machine with a nesting limit and a size budget, so hostile input gets a
//! typed error, never a panic, a stack overflow or a huge allocation.
//!
//! [`encode`] writes protocol 4 (Python 3.4+, so every Python 3.8+ loads
//! it), refusing globals off the allow-list. [`Pickled`] keeps a checked
//! pickle as its original bytes for values mp only relays.
//!
//! Why hand-written: serde-pickle 1.2, the maintained pickle crate, reads
//! protocols 0-5 but has no allow-list or hook for globals (an unknown global
//! is an unnamed error or silently `None`, so a `Token` or an exception
//! cannot be read at all), keeps dicts in sorted order instead of insertion
//! order, turns `bytearray` into `bytes`, has no nesting limit (its value
//! conversion recurses) and copies memo references without a size budget.
//! The codec here is a small opcode state machine plus this crate's own
//! allow-list; serde is used for the Rust side.
//!
//! # serde mapping
//!
//! [`to_pickle`] / [`to_value`] and [`from_pickle`] / [`from_value`]:
//!
//! | Rust (serde) | Python |
//! |---|---|
//! | `()`, unit struct, `Option::None` | `None` |
//! | `Option::Some(v)` | `v` |
//! | `bool` | `bool` |
//! | `i8`..`i64`, `u8`..`u64`, `i128`, `u128` | `int` (beyond `i64`: a big int); decoding reads any `int` up to 128 bits |
//! | `f32`, `f64` | `float` (`inf`, `nan` included); decoding also takes an `int` |
//! | `char`, `String`, `&str` | `str` |
//! | bytes (`serde_bytes`) | `bytes`; decoding also takes `bytearray` |
//! | tuple, tuple struct | `tuple` |
//! | `Vec<T>`, `[T; N]`, any seq | `list`; decoding takes `list`, `tuple`, `set`, `frozenset` |
//! | `HashSet`, `BTreeSet` | `list`, or `set` with `#[serde(with = "mp_python::set")]` ([`set`]); decoding takes a `set` or a `list` |
//! | `HashMap`, `BTreeMap`, any map | `dict` (insertion order kept) |
//! | struct | `dict` of field name to value |
//! | newtype struct | its inner value |
//! | unit enum variant | `str` of the variant name |
//! | newtype / tuple / struct variant | `{variant: value}`, `{variant: (..)}`, `{variant: {field: ..}}` |
//!
//! Python objects of allow-listed classes (exceptions, tokens, proxies)
//! have no serde form: decode them to a [`PyValue`] and read them with
//! [`PyException`], [`Token`] or [`ProxyRef`].
//!
//! # Connections
//!
//! [`Listener`] accepts Python's `multiprocessing.connection.Client`, and
//! [`Client`] connects to Python's `Listener`: mp-pipe's listener and
//! client with CPython's framing ([`Framing::Cpython`](mp_pipe::Framing::Cpython))
//! and challenge/response ([`CpythonHandshake`], both the 3.11 and the
//! 3.12+ form). Their [`PyConnection`]s `send` and `recv` serde values as
//! pickles, and `send_bytes` / `recv_bytes` raw messages.
//!
//! # Managers
//!
//! Both ways round, with CPython's manager protocol (`#RETURN`, `#ERROR`,
//! `#TRACEBACK`, `#PROXY`, the control calls and reference counts):
//!
//! - [`PythonClients`] lets an mp manager serve Python's stdlib clients
//!   (`BaseManager(address, authkey).connect()`, `SyncManager`'s typeids)
//!   from the same objects its mp clients use, through mp-manager's
//!   adapter seam ([`mp_manager::adapter`]). Values shared that way are
//!   [`Pickle`]s on the Rust side: `QueueProxy<Pickle<T>>` reads what a
//!   Python client put, and what it puts a Python client reads.
//! - [`PyManager`] is mp's client of a CPython manager server, with
//!   [`PyQueueProxy`], [`PyDictProxy`], [`PyListProxy`] (and [`PyProxy`]
//!   for any exposed method); Python's exceptions arrive as mp-manager's
//!   typed errors (`queue.Empty` is `Error::Empty`, ...).
//!
//! [`Request`] and [`Reply`] are the protocol's messages as data.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_python` in this
// crate's own docs, `mp::python` where the facade renders them.
mp_internal::doc_crate_paths!();

mod allow;
mod arena;
mod codec;
mod connection;
mod de;
mod decode;
mod encode;
mod error;
mod handshake;
mod manager_protocol;
mod opcodes;
mod pickle_item;
mod pickled;
mod py_manager;
mod python_server;
mod ser;
pub mod set;
mod shapes;
mod value;

pub use allow::AllowList;
pub use codec::{Codec, DEFAULT_MAX_DEPTH, decode, encode};
pub use connection::{Client, Listener, ListenerBuilder, PyConnection};
pub use de::from_value;
pub use encode::MAX_ENCODE_DEPTH;
pub use error::{Error, ErrorKind, Result};
pub use handshake::{Challenge, CpythonHandshake, Digest};
pub use manager_protocol::{Reply, Request};
// Not inlined: mp-pipe's docs hold its examples in the form the facade shows
// (`mp::pipe`), which a user of this crate alone cannot compile.
#[doc(no_inline)]
pub use mp_pipe::Address;
pub use pickle_item::Pickle;
pub use pickled::Pickled;
pub use py_manager::{PyDictProxy, PyListProxy, PyManager, PyProxy, PyQueueProxy, Returned};
pub use python_server::PythonClients;
pub use ser::to_value;
pub use shapes::{ProxyRef, PyException, Token};
pub use value::{BigInt, Construct, Global, PyObject, PyValue};

/// Encodes a serde value as a pickle Python loads (see the mapping table),
/// with the standard allow-list ([`Codec::to_pickle`] for another).
pub fn to_pickle<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    encode(&to_value(value)?)
}

/// Decodes a pickle (standard allow-list, default limits) into a serde
/// value ([`Codec::from_pickle`] for other settings).
pub fn from_pickle<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    from_value(decode(bytes)?)
}
