//! Frame headers, pure data and no I/O: mp's own framing and CPython's.
//!
//! Every message on a connection is `header ++ payload`.
//!
//! - [`Framing::Mp`]: a 12-byte header, the payload length as a
//!   little-endian `u64` (messages over 4 GiB are fine) and the number of OS
//!   handles that travel with the message as a little-endian `u32`.
//! - [`Framing::Cpython`]: `multiprocessing.connection`'s header, the length
//!   as a 4-byte big-endian signed integer; a message over `2^31 - 1` bytes
//!   has `-1` there, followed by the length as an 8-byte big-endian unsigned
//!   integer. No handles travel.

use serde::{Deserialize, Serialize};

/// The longest header of any framing.
pub(crate) const MAX_HEADER_LEN: usize = 12;

/// The most descriptors one `sendmsg` may carry (Linux's `SCM_MAX_FD`).
pub(crate) const MAX_FDS_PER_SEND: usize = 253;

/// How messages are delimited on a connection (see
/// [`ListenerBuilder::framing`](crate::ListenerBuilder::framing) and
/// [`Client::framing`](crate::Client::framing)).
///
/// Both framings keep message boundaries, empty messages, `poll` and end of
/// file the same way, and both obey the connection's size limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Framing {
    /// mp's own framing: a 12-byte header (length as a little-endian `u64`,
    /// descriptor count as a little-endian `u32`); OS handles travel with
    /// `SCM_RIGHTS` on Unix sockets.
    #[default]
    Mp,
    /// CPython's `multiprocessing.connection` framing: the length as a
    /// 4-byte big-endian signed integer, or `-1` and then an 8-byte
    /// big-endian length for messages over `2^31 - 1` bytes. It carries no
    /// OS handles (sending a value that holds one is
    /// [`Error::HandlesNotSupported`](crate::Error::HandlesNotSupported)).
    Cpython,
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) len: u64,
    pub(crate) nfds: u32,
}

/// A header that no sender of this framing writes (CPython: a negative
/// length other than -1); its bytes are consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadHeader {
    pub(crate) consumed: usize,
    pub(crate) value: i32,
}

impl Framing {
    /// Whether OS handles can travel with messages of this framing.
    pub(crate) fn carries_handles(self) -> bool {
        self == Framing::Mp
    }

    /// Writes the header of `header` right-aligned into `out` and returns
    /// where it starts (`out[start..]` is the header).
    #[inline]
    pub(crate) fn encode(self, header: Header, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        match self {
            Framing::Mp => {
                out[..8].copy_from_slice(&header.len.to_le_bytes());
                out[8..].copy_from_slice(&header.nfds.to_le_bytes());
                0
            }
            Framing::Cpython => match i32::try_from(header.len) {
                Ok(len) => {
                    out[8..].copy_from_slice(&len.to_be_bytes());
                    8
                }
                Err(_) => {
                    out[..4].copy_from_slice(&(-1i32).to_be_bytes());
                    out[4..].copy_from_slice(&header.len.to_be_bytes());
                    0
                }
            },
        }
    }

    /// Decodes the header at the front of `bytes`: `Ok(None)` until all of
    /// it is there, then the header and its length.
    #[inline]
    pub(crate) fn decode(self, bytes: &[u8]) -> Result<Option<(Header, usize)>, BadHeader> {
        match self {
            Framing::Mp => {
                let Some(head) = bytes.get(..MAX_HEADER_LEN) else {
                    return Ok(None);
                };
                let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
                let nfds = u32::from_le_bytes(head[8..].try_into().expect("4 bytes"));
                Ok(Some((Header { len, nfds }, MAX_HEADER_LEN)))
            }
            Framing::Cpython => {
                let Some(head) = bytes.get(..4) else {
                    return Ok(None);
                };
                let value = i32::from_be_bytes(head.try_into().expect("4 bytes"));
                if let Ok(len) = u64::try_from(value) {
                    return Ok(Some((Header { len, nfds: 0 }, 4)));
                }
                if value != -1 {
                    return Err(BadHeader { consumed: 4, value });
                }
                let Some(long) = bytes.get(4..12) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(long.try_into().expect("8 bytes"));
                Ok(Some((Header { len, nfds: 0 }, 12)))
            }
        }
    }

    /// Whether a header announcing `len` is really the start of a TLS
    /// record (a TLS client talking to a plain listener): content type 22
    /// (handshake) and major version 3 in the first two bytes.
    pub(crate) fn looks_like_tls(self, len: u64) -> bool {
        match self {
            Framing::Mp => len & 0xffff == 0x0316,
            Framing::Cpython => len >> 16 == 0x1603,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(framing: Framing, header: Header) -> (Header, usize) {
        let mut out = [0; MAX_HEADER_LEN];
        let start = framing.encode(header, &mut out);
        let decoded = framing.decode(&out[start..]).unwrap().unwrap();
        assert_eq!(decoded.1, MAX_HEADER_LEN - start);
        // One byte short is not a header yet.
        assert_eq!(framing.decode(&out[start..MAX_HEADER_LEN - 1]), Ok(None));
        decoded
    }

    #[test]
    fn mp_headers_round_trip_lengths_past_4_gib() {
        for len in [
            0,
            1,
            255,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            5 << 30,
            u64::MAX,
        ] {
            for nfds in [0, 1, 253, u32::MAX] {
                let h = Header { len, nfds };
                assert_eq!(round_trip(Framing::Mp, h).0, h);
            }
        }
    }

    #[test]
    fn mp_header_is_little_endian() {
        let h = Header {
            len: 0x0102_0304_0506_0708,
            nfds: 0x0a0b_0c0d,
        };
        let mut out = [0; MAX_HEADER_LEN];
        assert_eq!(Framing::Mp.encode(h, &mut out), 0);
        assert_eq!(out, [8, 7, 6, 5, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a]);
    }

    #[test]
    fn cpython_headers_are_four_bytes_or_minus_one_and_eight() {
        let mut out = [0; MAX_HEADER_LEN];
        let h = |len| Header { len, nfds: 0 };
        let start = Framing::Cpython.encode(h(0x0102_0304), &mut out);
        assert_eq!(&out[start..], [1, 2, 3, 4]);
        let start = Framing::Cpython.encode(h(i32::MAX as u64), &mut out);
        assert_eq!(&out[start..], [0x7f, 0xff, 0xff, 0xff]);
        let start = Framing::Cpython.encode(h(1 << 31), &mut out);
        assert_eq!(start, 0);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]);
        for len in [0, 1, i32::MAX as u64, 1 << 31, 5 << 30, u64::MAX] {
            assert_eq!(round_trip(Framing::Cpython, h(len)).0, h(len));
        }
    }

    #[test]
    fn a_negative_cpython_length_other_than_minus_one_is_refused() {
        assert_eq!(
            Framing::Cpython.decode(&(-2i32).to_be_bytes()),
            Err(BadHeader {
                consumed: 4,
                value: -2
            })
        );
        // -1 waits for the 8-byte length.
        assert_eq!(Framing::Cpython.decode(&(-1i32).to_be_bytes()), Ok(None));
    }

    #[test]
    fn a_tls_client_hello_is_recognised_in_either_framing() {
        let hello = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00,
        ];
        let (h, _) = Framing::Mp.decode(&hello).unwrap().unwrap();
        assert!(Framing::Mp.looks_like_tls(h.len));
        let (h, _) = Framing::Cpython.decode(&hello).unwrap().unwrap();
        assert!(Framing::Cpython.looks_like_tls(h.len));
        assert!(!Framing::Mp.looks_like_tls(32));
        assert!(!Framing::Cpython.looks_like_tls(32));
    }
}
