//! CPython's connection framing as pure functions: a 4-byte big-endian
//! signed length before each message, or, for messages over 2^31 - 1
//! bytes, -1 followed by an 8-byte unsigned big-endian length.

use crate::error::{ErrorKind, Result};

/// The longest message a 4-byte header can announce.
pub const MAX_SHORT_FRAME: u64 = 0x7fff_ffff;

/// The longest header: -1 then an 8-byte length.
pub const MAX_HEADER_LEN: usize = 12;

/// An encoded frame header (4 or 12 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl FrameHeader {
    /// The header for a message of `len` bytes, as CPython writes it.
    pub fn new(len: u64) -> FrameHeader {
        let mut bytes = [0; MAX_HEADER_LEN];
        if len > MAX_SHORT_FRAME {
            bytes[..4].copy_from_slice(&(-1i32).to_be_bytes());
            bytes[4..].copy_from_slice(&len.to_be_bytes());
            FrameHeader { bytes, len: 12 }
        } else {
            bytes[..4].copy_from_slice(&(len as u32).to_be_bytes());
            FrameHeader { bytes, len: 4 }
        }
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What [`parse_frame_header`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderParse {
    /// The buffer holds fewer bytes than the header; read at least this many
    /// more and parse again.
    NeedMore(usize),
    /// A complete header.
    Complete {
        /// The message length it announces.
        payload_len: u64,
        /// How many bytes the header took (4 or 12).
        header_len: usize,
    },
}

/// Parses the frame header at the start of `buf`. A negative length other
/// than -1 is an error ([`ErrorKind::BadFrameHeader`]); CPython would read
/// it as an empty message, but no CPython sender writes one.
pub fn parse_frame_header(buf: &[u8]) -> Result<HeaderParse> {
    let Some(first) = buf.get(..4) else {
        return Ok(HeaderParse::NeedMore(4 - buf.len()));
    };
    let short = i32::from_be_bytes(first.try_into().expect("four bytes"));
    match short {
        0.. => Ok(HeaderParse::Complete {
            payload_len: short as u64,
            header_len: 4,
        }),
        -1 => match buf.get(4..12) {
            Some(long) => Ok(HeaderParse::Complete {
                payload_len: u64::from_be_bytes(long.try_into().expect("eight bytes")),
                header_len: 12,
            }),
            None => Ok(HeaderParse::NeedMore(12 - buf.len())),
        },
        bad => Err(ErrorKind::BadFrameHeader(bad).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_headers_round_trip() {
        for len in [
            0,
            1,
            255,
            16384,
            MAX_SHORT_FRAME,
            MAX_SHORT_FRAME + 1,
            u64::MAX,
        ] {
            let header = FrameHeader::new(len);
            let expected_len = if len > MAX_SHORT_FRAME { 12 } else { 4 };
            assert_eq!(header.as_bytes().len(), expected_len);
            assert_eq!(
                parse_frame_header(header.as_bytes()).unwrap(),
                HeaderParse::Complete {
                    payload_len: len,
                    header_len: expected_len
                }
            );
        }
    }

    #[test]
    fn headers_match_cpython_bytes() {
        // struct.pack("!i", 5) and struct.pack("!i", -1) + struct.pack("!Q", 2**31)
        assert_eq!(FrameHeader::new(5).as_bytes(), b"\x00\x00\x00\x05");
        assert_eq!(
            FrameHeader::new(1 << 31).as_bytes(),
            b"\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x00"
        );
    }

    #[test]
    fn partial_and_bad_headers() {
        assert_eq!(
            parse_frame_header(b"\x00\x00").unwrap(),
            HeaderParse::NeedMore(2)
        );
        assert_eq!(
            parse_frame_header(b"\xff\xff\xff\xff\x00").unwrap(),
            HeaderParse::NeedMore(7)
        );
        let err = parse_frame_header(b"\xff\xff\xff\xfe").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::BadFrameHeader(-2)));
    }
}
