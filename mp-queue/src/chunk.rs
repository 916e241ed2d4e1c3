//! Chunk framing inside the ring: pure data, no I/O.
//!
//! A message is one or more chunks: `tag: u64 | len: u32 | flags: u32 |
//! payload`, padded to 8 bytes. A message that fits the free space is one
//! chunk with `FIRST | LAST`; one that does not streams through as several.
//! A streamed put that gives up part way (out of time, an encode error, a
//! closed queue) ends its stream with an empty `ABANDONED` chunk instead of
//! a `LAST` one: consumers drop what they took of it, and it is not a torn
//! message (those are left only by a process that died).
//!
//! The tag publishes the chunk: the producer stores it last, and it is the
//! chunk's stream position plus one, XORed with the queue's random key
//! (whose top bit is set). So a consumer knows a chunk is there by reading
//! the line it has to read anyway; a tag left from an earlier lap of the
//! ring never matches, nor does the zeroed start, nor (but by a 2^-63
//! chance) whatever payload bytes an earlier lap left where the next chunk
//! will start, however the items were chosen.

pub(crate) const HEADER: usize = 16;

/// Where the `len | flags` part sits after the tag.
pub(crate) const FIELDS_AT: u64 = 8;

/// The tag of a chunk that starts at stream position `pos` in a queue
/// whose key is `key` (see [`new_key`]).
#[inline]
pub(crate) fn tag(pos: u64, key: u64) -> u64 {
    (pos + 1) ^ key
}

/// A random tag key for a new queue. Its top bit is set, and stream
/// positions stay below 2^63, so no tag is ever 0.
pub(crate) fn new_key() -> u64 {
    let mut bytes = [0u8; 8];
    // The OS's randomness, as mp-pipe's authkeys and mp-shm's names use; a
    // short read leaves zeros, which only makes the key less random.
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    u64::from_le_bytes(bytes) | 1 << 63
}
pub(crate) const FIRST: u32 = 1;
pub(crate) const LAST: u32 = 2;
pub(crate) const ABANDONED: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) len: u32,
    pub(crate) flags: u32,
}

impl Chunk {
    /// The `len | flags` fields (the tag is stored separately, last).
    #[inline]
    pub(crate) fn encode(self) -> [u8; 8] {
        let mut out = [0; 8];
        out[..4].copy_from_slice(&self.len.to_le_bytes());
        out[4..].copy_from_slice(&self.flags.to_le_bytes());
        out
    }

    #[inline]
    pub(crate) fn decode(fields: &[u8]) -> Chunk {
        Chunk {
            len: u32::from_le_bytes(fields[..4].try_into().expect("4 bytes")),
            flags: u32::from_le_bytes(fields[4..8].try_into().expect("4 bytes")),
        }
    }

    #[inline]
    pub(crate) fn is_first(self) -> bool {
        self.flags & FIRST != 0
    }

    #[inline]
    pub(crate) fn is_last(self) -> bool {
        self.flags & LAST != 0
    }

    /// Ends a streamed message its producer gave up.
    #[inline]
    pub(crate) fn is_abandoned(self) -> bool {
        self.flags & ABANDONED != 0
    }

    /// Ring bytes the chunk occupies, header and padding included.
    #[inline]
    pub(crate) fn footprint(self) -> u64 {
        footprint(self.len as usize)
    }
}

/// Ring bytes a chunk with `len` payload bytes occupies.
#[inline]
pub(crate) fn footprint(len: usize) -> u64 {
    ((HEADER + len + 7) & !7) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_pad_to_eight() {
        for (len, flags) in [(0, FIRST | LAST), (1, FIRST), (4096, LAST), (u32::MAX, 0)] {
            let c = Chunk { len, flags };
            assert_eq!(Chunk::decode(&c.encode()), c);
        }
        assert_eq!(footprint(0), 16);
        assert_eq!(footprint(1), 24);
        assert_eq!(footprint(8), 24);
        assert_eq!(footprint(9), 32);
        let c = Chunk {
            len: 3,
            flags: FIRST | LAST,
        };
        assert!(c.is_first() && c.is_last() && !c.is_abandoned());
        assert_eq!(c.footprint(), 24);
        let marker = Chunk {
            len: 0,
            flags: ABANDONED,
        };
        assert!(marker.is_abandoned() && !marker.is_first() && !marker.is_last());
        assert_eq!(marker.footprint(), HEADER as u64);
        let key = new_key();
        assert_ne!(key, new_key(), "every queue has its own key");
        for pos in [0, 8, 1 << 20, (1 << 62) - 8] {
            assert_ne!(tag(pos, key), 0, "the zeroed ring must not look published");
            assert_ne!(tag(pos, key), pos + 1, "payload shaped like an unkeyed tag");
            assert_ne!(tag(pos + 4096, key), tag(pos, key), "another lap");
        }
    }
}
