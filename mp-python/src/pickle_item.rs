//! [`Pickle<T>`]: a value that an mp manager stores as a pickle, so Python
//! clients of the manager read it too; and the byte layout of such an
//! item (postcard's byte string around the pickle).

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value stored in an mp manager as a pickle: what Rust processes put
/// into (and get from) objects they share with Python clients.
///
/// mp's proxies store values as postcard, which only a process that knows
/// the Rust type can read; a `Pickle<T>` is a byte string holding `T`'s
/// pickle ([`to_pickle`](crate::to_pickle)), which the manager's Python
/// clients (served by [`PythonClients`](crate::PythonClients)) read as the
/// Python value of the mapping table, and whose Python puts a Rust
/// process reads back as `T` ([`from_pickle`](crate::from_pickle), data
/// only).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(python), "::Pickle;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// // The queue a Python client sees as holding tuples (str, int).
/// let queue = manager.queue::<Pickle<(String, i64)>>()?;
/// queue.put(&Pickle(("job".to_owned(), 7)))?;
/// let Pickle((name, n)) = queue.get()?;
/// assert_eq!((name.as_str(), n), ("job", 7));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pickle<T>(pub T);

impl<T> Pickle<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Pickle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pickle").field(&self.0).finish()
    }
}

impl<T: Serialize> Serialize for Pickle<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pickle = crate::to_pickle(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_bytes(&pickle)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Pickle<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pickle<T>, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(deserializer)?;
        crate::from_pickle(&bytes)
            .map(Pickle)
            .map_err(D::Error::custom)
    }
}

/// The item bytes of a [`Pickle`] holding `pickle`: postcard's encoding
/// of a byte string (its length as a varint, then the bytes).
pub(crate) fn item_bytes(pickle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pickle.len() + 5);
    let mut len = pickle.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(pickle);
    out
}

/// The pickle inside item bytes written as [`item_bytes`] does, if they
/// are that (a value a Rust client stored as plain postcard is not).
pub(crate) fn pickle_in(item: &[u8]) -> Option<&[u8]> {
    let mut len: u64 = 0;
    for (i, &byte) in item.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let rest = &item[i + 1..];
            return (rest.len() as u64 == len).then_some(rest);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_bytes_are_postcards_byte_strings() {
        for len in [0usize, 1, 127, 128, 300, 70_000] {
            let pickle = vec![7u8; len];
            let ours = item_bytes(&pickle);
            let postcard = postcard::to_allocvec(&serde_bytes::Bytes::new(&pickle)).unwrap();
            assert_eq!(ours, postcard, "{len}");
            assert_eq!(pickle_in(&ours), Some(&pickle[..]));
        }
        assert_eq!(pickle_in(&[3, 1, 2]), None, "a length that does not match");
        assert_eq!(pickle_in(&[0x80; 11]), None, "a varint that never ends");
    }

    #[test]
    fn a_pickle_round_trips_through_postcard() {
        let value = Pickle(("job".to_owned(), vec![1u8, 2], Some(2.5)));
        let bytes = postcard::to_allocvec(&value).unwrap();
        assert_eq!(
            pickle_in(&bytes).unwrap(),
            crate::to_pickle(&value.0).unwrap()
        );
        let back: Pickle<(String, Vec<u8>, Option<f64>)> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, value);
    }
}
