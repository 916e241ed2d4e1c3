//! Values with the OS handles they hold, to and from postcard bytes.

use std::fmt;
use std::os::fd::{OwnedFd, RawFd};

use mp_internal::codec::{Append, DecodeError, from_bytes_exact};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fd::{Table, scoped};

/// Why a value could not be encoded or decoded.
#[derive(Debug)]
pub enum Error {
    /// The value could not be serialized (a `Serialize` impl failed).
    Encode(postcard::Error),
    /// The bytes are not an encoding of the expected type: not valid, or
    /// valid for only part of the message (a value of another type was
    /// sent). The error names the expected type.
    Decode(DecodeError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Encode(e) => write!(f, "cannot encode value: {e}"),
            Error::Decode(e) => write!(f, "cannot decode value: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Encode(e) => Some(e),
            Error::Decode(e) => Some(e),
        }
    }
}

/// Serializes `value` with postcard, collecting the OS handles it holds.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>), Error> {
    let mut bytes = Vec::new();
    let fds = encode_into(value, &mut bytes)?;
    Ok((bytes, fds))
}

/// Serializes `value` with postcard, appending to `buf` (so a transport can
/// reserve room for a frame header first), and returns the OS handles it holds.
///
/// On error `buf` is truncated back to its length on entry.
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>, Error> {
    let (result, table) = scoped(Table::Collect(Vec::new()), || {
        mp_internal::codec::append(value, buf)
    });
    match (result, table) {
        (Ok(()), Table::Collect(fds)) => Ok(fds),
        (Ok(()), _) => unreachable!("encode installed a collecting table"),
        (Err(e), _) => Err(Error::Encode(e)),
    }
}

/// Deserializes a value from `bytes`, handing it the OS handles in `fds`.
///
/// The value must take up all of `bytes`: a message that holds a value of
/// another type is an [`Error::Decode`] naming `T`, even where postcard
/// alone would read a `T` from its front. Handles the value does not claim
/// are closed.
#[inline]
pub fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, Error> {
    // `scoped` by hand: its closure's result came back inside a tuple, one
    // more copy of the decoded value (a store-forwarding stall each, for a
    // value just written field by field).
    let outer = crate::fd::install(Table::Provide(fds.into_iter().map(Some).collect()));
    let result = from_bytes_exact(bytes);
    // The handles the value did not claim close here.
    drop(crate::fd::install_back(outer));
    result.map_err(Error::Decode)
}

/// The raw descriptors `value` holds, in the order [`encode`] would collect
/// them, without duplicating them (for a transport that must keep them
/// open, such as a forked child).
pub fn raw_fds<T: Serialize + ?Sized>(value: &T) -> Vec<RawFd> {
    let mut sink = Vec::new();
    let (_, table) = scoped(Table::Inspect(Vec::new()), || {
        postcard::serialize_with_flavor(value, Append(&mut sink))
    });
    match table {
        Table::Inspect(fds) => fds,
        _ => unreachable!("raw_fds installed an inspecting table"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fd;
    use std::os::fd::AsRawFd;

    #[test]
    fn plain_values_round_trip_without_handles() {
        let value = (1u8, String::from("two"), vec![3.0f64, 4.5], Some(-5i64));
        let (bytes, fds) = encode(&value).unwrap();
        assert!(fds.is_empty());
        let back: (u8, String, Vec<f64>, Option<i64>) = decode(&bytes, fds).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn handles_the_value_does_not_claim_are_closed() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        let (bytes, _) = encode(&7u8).unwrap();
        assert_eq!(decode::<u8>(&bytes, vec![w]).unwrap(), 7);
        // The only write end is gone: end of file, not "try again".
        assert_eq!(rustix::io::read(&r, &mut [0u8; 1]), Ok(0));
    }

    #[test]
    fn values_encode_and_decode_in_a_thread_locals_destructor() {
        struct Last(std::sync::mpsc::Sender<Option<u64>>);
        impl Drop for Last {
            fn drop(&mut self) {
                let back = encode(&7u64)
                    .ok()
                    .and_then(|(bytes, fds)| decode::<u64>(&bytes, fds).ok());
                let _ = self.0.send(back);
            }
        }
        thread_local! {
            static LAST: std::cell::RefCell<Option<Last>> = const { std::cell::RefCell::new(None) };
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Registered first, destroyed after the handle table.
            LAST.with(|l| *l.borrow_mut() = Some(Last(tx)));
            let (bytes, fds) = encode(&1u8).unwrap();
            assert_eq!(decode::<u8>(&bytes, fds).unwrap(), 1);
        })
        .join()
        .unwrap();
        assert_eq!(rx.recv().unwrap(), Some(7));
    }

    #[test]
    fn handles_are_collected_in_order_and_handed_back() {
        let (r1, w1) = rustix::pipe::pipe().unwrap();
        let (r2, _w2) = rustix::pipe::pipe().unwrap();
        let value = vec![Fd::from(r1), Fd::from(r2)];
        let (bytes, fds) = encode(&value).unwrap();
        assert_eq!(fds.len(), 2);
        let back: Vec<Fd> = decode(&bytes, fds).unwrap();
        rustix::io::write(&w1, b"x").unwrap();
        let mut buf = [0u8; 1];
        rustix::io::read(&back[0], &mut buf).unwrap();
        assert_eq!(&buf, b"x");
        assert_ne!(back[0].as_raw_fd(), back[1].as_raw_fd());
    }

    #[test]
    fn serializing_a_handle_outside_a_transport_is_an_error() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let err = postcard::to_allocvec(&Fd::from(r)).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeSerCustom), "{err:?}");
    }

    #[test]
    fn a_value_of_another_type_is_a_decode_error() {
        let (bytes, fds) = encode("hello").unwrap();
        let err = decode::<u64>(&bytes, fds).unwrap_err();
        assert!(err.to_string().contains("`u64`"), "{err}");
        let (bytes, fds) = encode(&(1u8, 2u8)).unwrap();
        assert!(matches!(decode::<u16>(&bytes, fds), Err(Error::Decode(_))));
    }

    #[test]
    fn raw_fds_names_the_handles_without_taking_them() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&r);
        let value = (1u8, Fd::from(r));
        assert_eq!(raw_fds(&value), [raw]);
    }

    #[test]
    fn a_missing_handle_is_a_decode_error() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let (bytes, _fds) = encode(&Fd::from(r)).unwrap();
        let err = decode::<Fd>(&bytes, Vec::new()).unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err}");
    }

    #[test]
    fn encode_failure_leaves_the_buffer_as_it_was() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let mut buf = vec![1, 2, 3];
        assert!(encode_into(&(5u32, Fails), &mut buf).is_err());
        assert_eq!(buf, [1, 2, 3]);
    }

    #[test]
    fn nested_encode_keeps_tables_apart() {
        struct Inner;
        impl Serialize for Inner {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (r, _w) = rustix::pipe::pipe().unwrap();
                let (bytes, fds) = encode(&Fd::from(r)).unwrap();
                assert_eq!(fds.len(), 1);
                s.serialize_bytes(&bytes)
            }
        }
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let (_, fds) = encode(&(Fd::from(r), Inner)).unwrap();
        assert_eq!(fds.len(), 1);
    }
}
