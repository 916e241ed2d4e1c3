//! [`Codec`]: the allow-list and limits that decoding and encoding share,
//! and the [`decode`] / [`encode`] shortcuts with the standard allow-list.

use std::sync::OnceLock;

use crate::allow::AllowList;
use crate::error::Result;
use crate::value::PyValue;

/// How deep a decoded value may nest by default (containers in
/// containers). Dropping and deserializing a value recurse, so the limit
/// keeps them well inside a 2 MiB thread stack.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Decodes (and encodes) pickles as data against an [`AllowList`], with limits.
///
/// The size budget counts one per item plus the payload bytes of strings
/// and bytes, after shared references are copied out; by default it is
/// 16 times the input length plus 4096, so a pickle of a few bytes cannot
/// describe gigabytes (`[[big] * 1000] * 1000`). Raise it with
/// [`max_size`](Codec::max_size) for values that legitimately share a lot.
#[derive(Clone, Debug, Default)]
pub struct Codec {
    allow: AllowList,
    max_depth: Option<usize>,
    max_size: Option<usize>,
}

impl Codec {
    /// A codec with [`AllowList::standard`] and the default limits.
    pub fn new() -> Codec {
        Codec::default()
    }

    /// A codec with the given allow-list and the default limits.
    pub fn with_allow_list(allow: AllowList) -> Codec {
        Codec {
            allow,
            max_depth: None,
            max_size: None,
        }
    }

    /// Sets the nesting limit (default [`DEFAULT_MAX_DEPTH`]).
    pub fn max_depth(mut self, depth: usize) -> Codec {
        self.max_depth = Some(depth);
        self
    }

    /// Sets the size budget (items plus payload bytes) for every input,
    /// instead of 16 × the input length + 4096.
    pub fn max_size(mut self, size: usize) -> Codec {
        self.max_size = Some(size);
        self
    }

    /// The allow-list in use.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// Decodes one pickle (protocols 0-5, as CPython writes them) into
    /// plain data. Bytes after the pickle's `STOP` are an error.
    pub fn decode(&self, input: &[u8]) -> Result<PyValue> {
        let budget = self
            .max_size
            .unwrap_or_else(|| input.len().saturating_mul(16).saturating_add(4096));
        let depth = self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH);
        crate::decode::decode_with(input, &self.allow, depth, budget)
    }

    /// Encodes `value` as a protocol 4 pickle (Python 3.4+ loads it).
    /// A class or function not on the allow-list is an error naming it.
    pub fn encode(&self, value: &PyValue) -> Result<Vec<u8>> {
        crate::encode::encode_with(value, &self.allow)
    }

    /// Encodes a serde value with this codec (see the mapping table).
    pub fn to_pickle<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        self.encode(&crate::to_value(value)?)
    }

    /// Decodes a pickle with this codec into a serde value.
    pub fn from_pickle<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        crate::from_value(self.decode(bytes)?)
    }
}

fn standard() -> &'static Codec {
    static STANDARD: OnceLock<Codec> = OnceLock::new();
    STANDARD.get_or_init(Codec::new)
}

/// Decodes a pickle with the [standard allow-list](AllowList::standard)
/// and the default limits.
pub fn decode(input: &[u8]) -> Result<PyValue> {
    standard().decode(input)
}

/// Encodes a value with the [standard allow-list](AllowList::standard).
pub fn encode(value: &PyValue) -> Result<Vec<u8>> {
    standard().encode(value)
}
