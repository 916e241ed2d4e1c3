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
#![doc = concat!("    #[serde(with = \"", crate::mp_crate!(python), "::set\")]")]
//!     tags: BTreeSet<String>,
//! }
//! let tags = Tags { tags: ["a".to_string()].into() };
#![doc = concat!("let value = ", crate::mp_crate!(python), "::to_value(&tags)?;")]
//! assert_eq!(
//!     value,
#![doc = concat!("    ", crate::mp_crate!(python), "::PyValue::Dict(vec![(")]
#![doc = concat!("        ", crate::mp_crate!(python), "::PyValue::str(\"tags\"),")]
#![doc = concat!("        ", crate::mp_crate!(python), "::PyValue::Set(vec![", crate::mp_crate!(python), "::PyValue::str(\"a\")]),")]
//!     )])
//! );
#![doc = concat!("# Ok::<(), ", crate::mp_crate!(python), "::Error>(())")]
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
