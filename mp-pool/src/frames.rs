//! The framing of a chunk's items (arguments one way, results the other):
//! the encoded values back to back, then a table of where each ends, so
//! that an item that fails to encode or decode is that item's error and
//! the others go on, at the cost of one table entry per item.
//!
//! Layout: `[values][lengths][failures][n: u32 LE][lengths' size: u32 LE][failures' size: u32 LE]`,
//! where `lengths` holds each value's length as a LEB128 varint (one byte
//! for values under 128 bytes), `failures` is a postcard
//! `Vec<(u32, u8, String)>` of (index, kind, message) in index order, and a
//! failed item's value is empty. The three trailing words are `u32`s:
//! [`FrameWriter::finish`] refuses a chunk whose count or tables do not fit
//! one (an `Encode` error where the chunk is made, not a malformed chunk
//! where it is read).

use mp_internal::codec::append;
use serde::Serialize;

/// Failure kinds: the argument did not encode (in the pool process) ...
pub(crate) const ARG_ENCODE: u8 = 1;
/// ... or did not decode (in the worker); the task panicked; its result
/// did not encode (in the worker).
pub(crate) const ARG_DECODE: u8 = 2;
pub(crate) const PANICKED: u8 = 3;
pub(crate) const RESULT_ENCODE: u8 = 4;

/// Why an item holding a `Queue`, `Connection`, lock or other OS handle
/// does not encode (CPython: "Queue objects should only be shared between
/// processes through inheritance").
pub(crate) const HANDLE_IN_A_TASK: &str = "a Queue, Connection, Lock, Value or other OS handle \
    cannot travel in a pool task (as an argument or a result): handles reach a process when it \
    starts. Give it to the workers through the pool's initializer \
    (`Pool::builder().initializer(f, (queue,))`), or use a manager's queue (`Manager::queue`), \
    whose proxy any task can take";

/// Builds a chunk of framed items.
pub(crate) struct FrameWriter {
    body: Vec<u8>,
    lens: Vec<u8>,
    items: usize,
    /// The length of the values of complete items.
    valid: usize,
    failures: Vec<(u32, u8, String)>,
}

impl FrameWriter {
    pub(crate) fn with_capacity(bytes: usize, items: usize) -> FrameWriter {
        FrameWriter {
            body: Vec::with_capacity(bytes + 2 * items + 16),
            lens: Vec::with_capacity(items),
            items: 0,
            valid: 0,
            failures: Vec::new(),
        }
    }

    /// Items so far.
    pub(crate) fn len(&self) -> usize {
        self.items
    }

    #[inline]
    fn push_len(&mut self, mut len: usize) {
        while len >= 0x80 {
            self.lens.push(len as u8 | 0x80);
            len >>= 7;
        }
        self.lens.push(len as u8);
        self.items += 1;
    }

    /// Appends an item; on error nothing is appended.
    #[inline]
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), String> {
        let start = self.valid;
        // Bytes a value that panicked while encoding left behind go.
        self.body.truncate(start);
        let (appended, refused) = mp_handle::refused_handles(|| append(value, &mut self.body));
        appended.map_err(|e| {
            if refused {
                HANDLE_IN_A_TASK.to_owned()
            } else {
                e.to_string()
            }
        })?;
        self.valid = self.body.len();
        self.push_len(self.valid - start);
        Ok(())
    }

    /// Appends an item that failed (dropping any bytes a value that
    /// panicked while encoding left behind).
    pub(crate) fn fail(&mut self, kind: u8, message: String) {
        self.body.truncate(self.valid);
        // An index past `u32::MAX` wraps here, but `finish` then refuses
        // the chunk for its item count.
        self.failures.push((self.items as u32, kind, message));
        self.push_len(0);
    }

    /// The chunk's bytes, or why it cannot be framed: its item count or one
    /// of its tables is too large for the chunk's trailing `u32` words (the
    /// pool reports it as an `Encode` error).
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, String> {
        let items = frame_word(self.items, "items")?;
        let lens_len = frame_word(self.lens.len(), "bytes of value lengths")?;
        self.body.truncate(self.valid);
        self.body.extend_from_slice(&self.lens);
        let before = self.body.len();
        append(&self.failures, &mut self.body).expect("failure messages encode");
        let failures_len = frame_word(self.body.len() - before, "bytes of failure messages")?;
        for word in [items, lens_len, failures_len] {
            self.body.extend_from_slice(&word.to_le_bytes());
        }
        Ok(self.body)
    }
}

/// `n` as one of a chunk's trailing words, or why the chunk cannot be framed.
fn frame_word(n: usize, what: &str) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| {
        format!(
            "a chunk with {n} {what} is too large to frame (at most {}): use a smaller chunksize",
            u32::MAX
        )
    })
}

/// Reads the items of a chunk made by [`FrameWriter`], in order.
pub(crate) struct FrameReader<'a> {
    body: &'a [u8],
    lens: &'a [u8],
    failures: Vec<(u32, u8, String)>,
    next_failure: usize,
    items: usize,
    index: usize,
}

impl<'a> FrameReader<'a> {
    /// `None` if `bytes` is not a chunk.
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<FrameReader<'a>> {
        let word = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let tail = bytes.len().checked_sub(12)?;
        let (items, lens_len, failures_len) = (word(tail)?, word(tail + 4)?, word(tail + 8)?);
        let failures_at = tail.checked_sub(failures_len)?;
        let lens_at = failures_at.checked_sub(lens_len)?;
        let failures = mp_internal::codec::from_bytes_exact(&bytes[failures_at..tail]).ok()?;
        Some(FrameReader {
            body: &bytes[..lens_at],
            lens: &bytes[lens_at..failures_at],
            failures,
            next_failure: 0,
            items,
            index: 0,
        })
    }

    /// The number of items.
    pub(crate) fn len(&self) -> usize {
        self.items
    }

    /// Items read so far.
    pub(crate) fn position(&self) -> usize {
        self.index
    }

    /// The next value length: a varint of up to 64 bits (whatever
    /// `push_len` wrote for a `usize`).
    #[inline]
    fn take_len(&mut self) -> Option<usize> {
        let mut len = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.lens.split_first()?;
            self.lens = rest;
            len |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return usize::try_from(len).ok();
            }
        }
        None
    }

    /// The next item's value bytes, or the failure recorded for it.
    #[inline]
    pub(crate) fn next_item(&mut self) -> Option<Result<&'a [u8], (u8, String)>> {
        let i = self.index;
        if i >= self.items {
            return None;
        }
        self.index += 1;
        let malformed = || (ARG_DECODE, "a malformed chunk".to_owned());
        let Some(len) = self.take_len().filter(|&len| len <= self.body.len()) else {
            self.body = &[];
            return Some(Err(malformed()));
        };
        let (value, rest) = self.body.split_at(len);
        self.body = rest;
        if let Some((at, kind, message)) = self.failures.get_mut(self.next_failure) {
            if *at as usize == i {
                self.next_failure += 1;
                return Some(Err((*kind, std::mem::take(message))));
            }
        }
        Some(Ok(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_failures_round_trip_in_order() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let mut w = FrameWriter::with_capacity(0, 0);
        w.push(&1u64).unwrap();
        w.fail(PANICKED, "boom".to_owned());
        w.push("two").unwrap();
        w.fail(ARG_ENCODE, "no".to_owned());
        assert_eq!(w.len(), 4);
        let bytes = w.finish().unwrap();
        let mut r = FrameReader::parse(&bytes).unwrap();
        assert_eq!(r.len(), 4);
        let one = r.next_item().unwrap().unwrap();
        assert_eq!(postcard::from_bytes::<u64>(one).unwrap(), 1);
        assert_eq!(r.next_item(), Some(Err((PANICKED, "boom".to_owned()))));
        let two = r.next_item().unwrap().unwrap();
        assert_eq!(postcard::from_bytes::<String>(two).unwrap(), "two");
        assert_eq!(r.next_item(), Some(Err((ARG_ENCODE, "no".to_owned()))));
        assert_eq!(r.next_item(), None);
        assert_eq!(r.position(), 4);
    }

    #[test]
    fn garbage_is_not_a_chunk() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        assert!(FrameReader::parse(&[]).is_none());
        assert!(FrameReader::parse(&[1, 2, 3]).is_none());
        assert!(FrameReader::parse(&[0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(FrameReader::parse(&[0; 11]).is_none());
        let empty = FrameWriter::with_capacity(0, 0).finish().unwrap();
        assert_eq!(FrameReader::parse(&empty).unwrap().len(), 0);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_count_or_table_past_u32_is_an_encode_error_when_framing() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        assert_eq!(frame_word(7, "items"), Ok(7));
        assert_eq!(frame_word(u32::MAX as usize, "items"), Ok(u32::MAX));
        let too_many = u32::MAX as usize + 1;
        match frame_word(too_many, "items") {
            Err(why) => {
                assert!(
                    why.contains(&too_many.to_string()) && why.contains("items"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn value_lengths_past_35_bits_read_back() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        // The reader takes any length the writer writes (only the table,
        // not the value: the body is then too short, which it reports).
        let mut w = FrameWriter::with_capacity(0, 0);
        let len = 1usize << 40;
        w.push_len(len);
        let mut r = FrameReader {
            body: &[],
            lens: &w.lens,
            failures: Vec::new(),
            next_failure: 0,
            items: 1,
            index: 0,
        };
        assert_eq!(r.take_len(), Some(len));
        assert_eq!(r.take_len(), None);
    }
}
