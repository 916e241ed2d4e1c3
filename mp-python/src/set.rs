//! `#[serde(with = "mp_python::set")]`: a Rust set (or any sequence)
//! crosses as a Python `set` instead of a `list`.
//!
//! serde shows a `HashSet` to a serializer as a plain sequence, so without
//! this attribute it pickles as a `list`. Decoding needs no attribute: a
//! Rust set deserializes from a Python `set`, `frozenset`, `list` or
//! `tuple`. Other serde formats see the wrapped value unchanged.
//!
//! ```
//! use std::collections::BTreeSet;
//! #[derive(serde::Serialize)]
//! struct Tags {
//!     #[serde(with = "mp_python::set")]
//!     tags: BTreeSet<String>,
//! }
//! let tags = Tags { tags: ["a".to_string()].into() };
//! let value = mp_python::to_value(&tags)?;
//! assert_eq!(
//!     value,
//!     mp_python::PyValue::Dict(vec![(
//!         mp_python::PyValue::str("tags"),
//!         mp_python::PyValue::Set(vec![mp_python::PyValue::str("a")]),
//!     )])
//! );
//! # Ok::<(), mp_python::Error>(())
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ser::SET_TOKEN;

/// Serializes `value` (a sequence) as a Python `set`.
pub fn serialize<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_newtype_struct(SET_TOKEN, value)
}

/// Deserializes a set from a Python `set`, `frozenset`, `list` or `tuple`.
pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::deserialize(deserializer)
}
