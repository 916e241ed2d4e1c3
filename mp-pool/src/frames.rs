//! The framing of a chunk's items (arguments one way, results the other):
//! the encoded values back to back, then a table of where each ends, so
//! that an item that fails to encode or decode is that item's error and
//! the others go on, at the cost of one table entry per item.
//!
//! Layout: `[values][ends: n × u32 LE][failures][n: u32 LE][failures' length: u32 LE]`,
//! where `failures` is a postcard `Vec<(u32, u8, String)>` of (index, kind,
//! message) in index order, and a failed item's value is empty.

use serde::Serialize;

/// Failure kinds: the argument did not encode (in the pool process) ...
pub(crate) const ARG_ENCODE: u8 = 1;
/// ... or did not decode (in the worker); the task panicked; its result
/// did not encode (in the worker).
pub(crate) const ARG_DECODE: u8 = 2;
pub(crate) const PANICKED: u8 = 3;
pub(crate) const RESULT_ENCODE: u8 = 4;

/// A postcard flavor that appends to a `Vec`.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() <= 16 {
            // Varints and small fields: cheaper than a `memcpy` call.
            self.0.reserve(16);
            for &b in data {
                self.0.push(b);
            }
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

/// Builds a chunk of framed items.
pub(crate) struct FrameWriter {
    body: Vec<u8>,
    ends: Vec<u32>,
    failures: Vec<(u32, u8, String)>,
}

impl FrameWriter {
    pub(crate) fn with_capacity(bytes: usize, items: usize) -> FrameWriter {
        FrameWriter {
            body: Vec::with_capacity(bytes + 4 * items + 16),
            ends: Vec::with_capacity(items),
            failures: Vec::new(),
        }
    }

    /// Items so far.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Where the values so far end.
    fn end(&self) -> usize {
        self.ends.last().map_or(0, |&e| e as usize)
    }

    /// Appends an item; on error nothing is appended.
    #[inline]
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), String> {
        let start = self.body.len();
        match postcard::serialize_with_flavor(value, Append(&mut self.body)) {
            Ok(()) => match u32::try_from(self.body.len()) {
                Ok(end) => {
                    self.ends.push(end);
                    Ok(())
                }
                Err(_) => {
                    self.body.truncate(start);
                    Err("a chunk is larger than 4 GiB".to_owned())
                }
            },
            Err(e) => {
                self.body.truncate(start);
                Err(e.to_string())
            }
        }
    }

    /// Appends an item that failed (dropping any bytes a value left behind).
    pub(crate) fn fail(&mut self, kind: u8, message: String) {
        let end = self.end();
        self.body.truncate(end);
        self.failures.push((self.ends.len() as u32, kind, message));
        self.ends.push(end as u32);
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let end = self.end();
        self.body.truncate(end);
        self.body.resize(end + 4 * self.ends.len(), 0);
        for (slot, e) in self.body[end..].chunks_exact_mut(4).zip(&self.ends) {
            // A fixed-size copy: no `memcpy` call per entry.
            if let Ok(slot) = <&mut [u8; 4]>::try_from(slot) {
                *slot = e.to_le_bytes();
            }
        }
        let before = self.body.len();
        postcard::serialize_with_flavor(&self.failures, Append(&mut self.body))
            .expect("failure messages encode");
        let failures_len = (self.body.len() - before) as u32;
        self.body
            .extend_from_slice(&(self.ends.len() as u32).to_le_bytes());
        self.body.extend_from_slice(&failures_len.to_le_bytes());
        self.body
    }
}

/// Reads the items of a chunk made by [`FrameWriter`], in order.
pub(crate) struct FrameReader<'a> {
    body: &'a [u8],
    ends: &'a [u8],
    failures: Vec<(u32, u8, String)>,
    next_failure: usize,
    index: usize,
    start: usize,
}

impl<'a> FrameReader<'a> {
    /// `None` if `bytes` is not a chunk.
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<FrameReader<'a>> {
        let word = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let tail = bytes.len().checked_sub(8)?;
        let (n, failures_len) = (word(tail)?, word(tail + 4)?);
        let failures_at = tail.checked_sub(failures_len)?;
        let ends_at = failures_at.checked_sub(n.checked_mul(4)?)?;
        let failures = postcard::from_bytes(&bytes[failures_at..tail]).ok()?;
        Some(FrameReader {
            body: &bytes[..ends_at],
            ends: &bytes[ends_at..failures_at],
            failures,
            next_failure: 0,
            index: 0,
            start: 0,
        })
    }

    /// The number of items.
    pub(crate) fn len(&self) -> usize {
        self.ends.len() / 4
    }

    /// Items read so far.
    pub(crate) fn position(&self) -> usize {
        self.index
    }

    /// The next item's value bytes, or the failure recorded for it.
    #[inline]
    pub(crate) fn next_item(&mut self) -> Option<Result<&'a [u8], (u8, String)>> {
        let i = self.index;
        let end = u32::from_le_bytes(self.ends.get(4 * i..4 * i + 4)?.try_into().ok()?) as usize;
        self.index += 1;
        let start = std::mem::replace(&mut self.start, end);
        if let Some((at, kind, message)) = self.failures.get_mut(self.next_failure) {
            if *at as usize == i {
                self.next_failure += 1;
                return Some(Err((*kind, std::mem::take(message))));
            }
        }
        Some(
            self.body
                .get(start..end)
                .ok_or_else(|| (ARG_DECODE, "a malformed chunk".to_owned())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_failures_round_trip_in_order() {
        let mut w = FrameWriter::with_capacity(0, 0);
        w.push(&1u64).unwrap();
        w.fail(PANICKED, "boom".to_owned());
        w.push("two").unwrap();
        w.fail(ARG_ENCODE, "no".to_owned());
        assert_eq!(w.len(), 4);
        let bytes = w.finish();
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
        assert!(FrameReader::parse(&[]).is_none());
        assert!(FrameReader::parse(&[1, 2, 3]).is_none());
        assert!(FrameReader::parse(&[0, 0, 0, 0, 9, 0, 0, 0]).is_none());
        let empty = FrameWriter::with_capacity(0, 0).finish();
        assert_eq!(FrameReader::parse(&empty).unwrap().len(), 0);
    }
}
