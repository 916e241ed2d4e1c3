//! The shared header of a pipe's fast path and the ring's entry format:
//! pure data, no system calls.
//!
//! A segment has two lanes, one per direction. A lane has a ring of bytes
//! (in the segment, see `segment`) holding entries one after another, each
//! 8-aligned: an 8-byte head (length in the low 32 bits, kind in the next
//! 8) and, for a [`Kind::Data`] entry, the message padded to 8 bytes; a
//! [`Kind::Socket`] entry says "the next message is on the socket" and
//! holds its length (8 bytes), which the socket frame must repeat.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mp_internal::robust_lock::RobustLock;

/// Marks an initialised segment ("mppipe02": the lane layout with `tail`
/// on a line of its own).
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"mppipe02");

/// A lane's socket state ([`WriterSide::sock`]): no socket message in
/// progress.
pub(crate) const SOCK_IDLE: u32 = 0;
/// A writer is sending the socket message announced at `sock_marker` (or
/// is about to announce it there). If it died or gave up partway, the
/// reader drops the partial message as torn.
pub(crate) const SOCK_BUSY: u32 = 1;
/// The writer of the message announced at `sock_marker` gave up before
/// writing any of it: the reader skips the announcement.
pub(crate) const SOCK_CANCELLED: u32 = 2;

#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Line<T>(pub(crate) T);

/// What the writers of a lane share (under `lock`).
#[derive(Debug, Default)]
pub(crate) struct WriterSide {
    pub(crate) lock: RobustLock,
    /// `SOCK_*`: a futex word, writers that wait for the reader to settle
    /// a torn or cancelled socket message sleep on it.
    pub(crate) sock: AtomicU32,
    /// Where the announcement of the socket message in progress is (or
    /// will be).
    pub(crate) sock_marker: AtomicU64,
}

/// What the readers of a lane share (under `lock`).
#[derive(Debug, Default)]
pub(crate) struct ReaderSide {
    /// Ring bytes consumed so far.
    pub(crate) head: AtomicU64,
    pub(crate) lock: RobustLock,
    /// 1 while a reader is inside a socket message (it consumed the
    /// announcement). A reader that dies or lets go there leaves the rest
    /// of the message on the socket, where no one can find its end.
    pub(crate) mid_frame: AtomicU32,
    /// The socket stream lost its framing (see `mid_frame`): every
    /// receive is `Error::Corrupt`.
    pub(crate) broken: AtomicU32,
}

/// One direction of a pipe.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    /// Ring bytes published so far (stream position; only grows; written
    /// under the writers' lock). A line of its own: readers poll it, and
    /// a line they poll costs whoever writes it next a fetch from their
    /// cache, which for the lock's line was every send, before anything
    /// was written.
    pub(crate) tail: Line<AtomicU64>,
    pub(crate) writer: Line<WriterSide>,
    pub(crate) reader: Line<ReaderSide>,
    /// Readers sleeping on the socket (in `recv`, `poll` or `wait`): a
    /// writer that publishes while this is not 0 rings the doorbell.
    pub(crate) sleepers: Line<AtomicU32>,
    /// 1 while a writer sleeps waiting for ring space (a futex word).
    pub(crate) space: Line<AtomicU32>,
    /// The reading end's limit on incoming messages (`u64::MAX`: none).
    pub(crate) limit: Line<AtomicU64>,
}

/// The segment's header page.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) magic: AtomicU64,
    pub(crate) lanes: [Lane; 2],
}

impl Header {
    /// Initialises a fresh (zeroed) header.
    pub(crate) fn init(&self) {
        for lane in &self.lanes {
            lane.limit.0.store(u64::MAX, Ordering::Relaxed);
        }
        self.magic.store(MAGIC, Ordering::Release);
    }
}

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A message, in the ring.
    Data = 1,
    /// The next message is on the socket.
    Socket = 2,
}

/// An entry's head, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) len: u32,
}

/// The bytes of an entry's head.
pub(crate) const ENTRY_HEAD: usize = 8;

/// The payload of a [`Kind::Socket`] entry: the message's length.
pub(crate) const SOCKET_ENTRY_LEN: u32 = 8;

impl Entry {
    pub(crate) fn encode(self) -> [u8; ENTRY_HEAD] {
        (u64::from(self.len) | (self.kind as u64) << 32).to_le_bytes()
    }

    /// Decodes the head at `bytes`, which must leave room for its whole
    /// entry in `available` published bytes; `None` for bytes no writer
    /// writes.
    pub(crate) fn decode(bytes: [u8; ENTRY_HEAD], available: u64) -> Option<Entry> {
        let word = u64::from_le_bytes(bytes);
        let len = word as u32;
        let kind = match word >> 32 {
            1 => Kind::Data,
            2 if len == SOCKET_ENTRY_LEN => Kind::Socket,
            _ => return None,
        };
        let entry = Entry { kind, len };
        (entry.footprint() <= available).then_some(entry)
    }

    /// Ring bytes the entry takes, head and padding included.
    pub(crate) fn footprint(self) -> u64 {
        footprint(self.len as usize)
    }
}

/// Ring bytes an entry with `len` payload bytes takes.
pub(crate) fn footprint(len: usize) -> u64 {
    (ENTRY_HEAD + len.next_multiple_of(8)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_refused() {
        for entry in [
            Entry {
                kind: Kind::Data,
                len: 0,
            },
            Entry {
                kind: Kind::Data,
                len: 13,
            },
            Entry {
                kind: Kind::Socket,
                len: SOCKET_ENTRY_LEN,
            },
        ] {
            assert_eq!(
                Entry::decode(entry.encode(), entry.footprint()),
                Some(entry)
            );
            // More than was published: refused.
            assert_eq!(Entry::decode(entry.encode(), entry.footprint() - 1), None);
        }
        assert_eq!(footprint(13), 24);
        assert_eq!(footprint(0), 8);
        assert_eq!(Entry::decode([0; 8], 1 << 20), None, "a zero head");
        assert_eq!(Entry::decode([9, 0, 0, 0, 7, 0, 0, 0], 1 << 20), None);
        let bad_socket = (3u64 | 2 << 32).to_le_bytes();
        assert_eq!(Entry::decode(bad_socket, 1 << 20), None);
    }

    #[test]
    fn the_header_fits_its_page_and_sides_have_lines_of_their_own() {
        assert!(std::mem::size_of::<Header>() <= 4096);
        assert_eq!(std::mem::align_of::<Line<WriterSide>>(), 64);
    }
}
