//! The frame header: pure data, no I/O.
//!
//! Every message on a connection is `header ++ payload`. The header is 12
//! bytes: the payload length as a little-endian `u64` (messages over 4 GiB
//! are fine) and the number of OS handles that travel with the message as a
//! little-endian `u32`.

pub(crate) const HEADER_LEN: usize = 12;

/// The most descriptors one `sendmsg` may carry (Linux's `SCM_MAX_FD`).
pub(crate) const MAX_FDS_PER_SEND: usize = 253;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) len: u64,
    pub(crate) nfds: u32,
}

impl Header {
    pub(crate) fn encode(self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[..8].copy_from_slice(&self.len.to_le_bytes());
        out[8..].copy_from_slice(&self.nfds.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Header {
        let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let nfds = u32::from_le_bytes(bytes[8..HEADER_LEN].try_into().expect("4 bytes"));
        Header { len, nfds }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_lengths_past_4_gib() {
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
                assert_eq!(Header::decode(&h.encode()), h);
            }
        }
    }

    #[test]
    fn header_is_little_endian() {
        let h = Header {
            len: 0x0102_0304_0506_0708,
            nfds: 0x0a0b_0c0d,
        };
        assert_eq!(h.encode(), [8, 7, 6, 5, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a]);
    }
}
