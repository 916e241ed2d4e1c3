//! postcard helpers: an append flavor, and decoding that takes a whole
//! message or fails with the type it expected.

use std::fmt;

use serde::Deserialize;

/// A postcard flavor that appends to a `Vec` (so a transport can reserve
/// room for a frame header first).
#[derive(Debug)]
pub struct Append<'a>(pub &'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() <= 16 {
            // Mostly varints of a few bytes: a trusted-length extend writes
            // them without a `memcpy` call or a capacity check per byte.
            self.0.extend(data.iter().copied());
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Serializes `value` with postcard, appending to `buf`; on error `buf` is
/// truncated back to its length on entry.
pub fn append<T: serde::Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> postcard::Result<()> {
    let start = buf.len();
    let result = postcard::serialize_with_flavor(value, Append(buf));
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Why a message did not decode as the type the receiver asked for.
#[derive(Debug)]
pub struct DecodeError {
    expected: &'static str,
    kind: DecodeErrorKind,
}

#[derive(Debug)]
enum DecodeErrorKind {
    /// postcard refused the bytes.
    Invalid(postcard::Error),
    /// A value decoded from the front, and bytes were left over: the
    /// message holds something else (`"hello"` read as a `u64`).
    Trailing { used: usize, len: usize },
}

impl DecodeError {
    /// The type the receiver expected.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// postcard's own error, when postcard refused the bytes (`None` when a
    /// value decoded and bytes were left over).
    pub fn postcard(&self) -> Option<&postcard::Error> {
        match &self.kind {
            DecodeErrorKind::Invalid(e) => Some(e),
            DecodeErrorKind::Trailing { .. } => None,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::Invalid(e) => {
                write!(f, "the message is not a `{}`: {e}", self.expected)
            }
            DecodeErrorKind::Trailing { used, len } => write!(
                f,
                "the message is not a `{}`: one decodes from its first {used} of {len} bytes \
                 and the rest is left over (it holds a value of another type)",
                self.expected
            ),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            DecodeErrorKind::Invalid(e) => Some(e),
            DecodeErrorKind::Trailing { .. } => None,
        }
    }
}

/// Decodes a `T` that must take up all of `bytes`.
///
/// postcard alone decodes a value from the front of its input and ignores
/// the rest, so a message of one type read as another often "succeeds"
/// (`"hello"` read as a `u64` gives 5, its length). Requiring the whole
/// message catches that; the error names the type that was expected.
#[inline]
pub fn from_bytes_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    let expected = std::any::type_name::<T>();
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(DecodeError {
            expected,
            kind: DecodeErrorKind::Trailing {
                used: bytes.len() - rest.len(),
                len: bytes.len(),
            },
        }),
        Err(e) => Err(DecodeError {
            expected,
            kind: DecodeErrorKind::Invalid(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_another_type_is_an_error_naming_the_expected_type() {
        let hello = postcard::to_allocvec("hello").unwrap();
        let e = from_bytes_exact::<u64>(&hello).unwrap_err();
        assert_eq!(e.expected(), "u64");
        assert!(e.to_string().contains("`u64`"), "{e}");
        let pair = postcard::to_allocvec(&(1u8, 2u8)).unwrap();
        assert!(from_bytes_exact::<u16>(&pair).is_err());
        assert!(
            from_bytes_exact::<u64>(&[])
                .unwrap_err()
                .postcard()
                .is_some()
        );
        assert_eq!(from_bytes_exact::<(u8, u8)>(&pair).unwrap(), (1, 2));
        assert_eq!(from_bytes_exact::<String>(&hello).unwrap(), "hello");
    }

    #[test]
    fn append_keeps_what_was_there_and_undoes_a_failure() {
        struct Fails;
        impl serde::Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let mut buf = vec![9];
        append(&(1u8, "a long string of more than sixteen bytes"), &mut buf).unwrap();
        assert_eq!(buf[0], 9);
        let (back, rest) = postcard::take_from_bytes::<(u8, String)>(&buf[1..]).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back.0, 1);
        let len = buf.len();
        assert!(append(&(5u32, Fails), &mut buf).is_err());
        assert_eq!(buf.len(), len);
    }
}
