//! The producers' side of a ring queue: taking the producers' turn,
//! serializing an item straight into the free space, publishing it, and
//! repairing the side after a producer died in its turn.

use std::time::Duration;

use mp_internal::Deadline;
use serde::Serialize;

use super::{RingQueue, SLEEP_SLICE};
use crate::chunk::{self, Chunk, FIRST, LAST};
use crate::error::{Error, Result};
use crate::sys::Cursor;
use crate::turn::Turn;
use crate::wait::{spin, wait_for};
use std::sync::atomic::Ordering;

/// Free ring bytes below which a producer first lets the consumers free a
/// batch (see `RingQueue::room`), and for how long at most.
const LOW_WATER: u64 = 4096;
const BATCH_WAIT: Duration = Duration::from_micros(20);

impl RingQueue {
    /// Serializes `item` into the ring. `joinable` counts it as a task.
    pub(crate) fn put<T: Serialize + ?Sized>(
        &self,
        item: &T,
        deadline: &Deadline,
        joinable: bool,
    ) -> Result<()> {
        self.check_open()?;
        let _guard = self.lock_producers(deadline)?;
        let h = self.header();
        let maxsize = self.maxsize();
        if maxsize > 0
            && !wait_for(&h.space.0, deadline, SLEEP_SLICE, || {
                self.qsize() < maxsize || self.stop_putting()
            })
        {
            return Err(Error::Full);
        }
        // In the producers' turn: a shutdown that drops the queued items
        // (it takes this turn too) cannot miss this item.
        self.check_put()?;
        let tail = h.producer.0.tail.load(Ordering::Relaxed);
        let room = self.room(tail, deadline);
        // Most messages fit in the free space: serialize straight into it
        // (with this process's view of the consumers' progress, then with a
        // fresh one).
        let attempt = match self.serialize_at(item, tail, room) {
            Err(postcard::Error::SerializeBufferFull) => {
                self.serialize_at(item, tail, self.free_bytes(tail, true))
            }
            other => other,
        };
        let len = match attempt {
            Ok(len) => len,
            Err(postcard::Error::SerializeBufferFull) => {
                let len = serialized_len(item)?;
                let needed = chunk::footprint(len);
                if needed > self.capacity() {
                    return self.stream(item, deadline, joinable);
                }
                if !wait_for(&h.space.0, deadline, SLEEP_SLICE, || {
                    self.free_bytes(tail, true) >= needed || self.stop_putting()
                }) {
                    return Err(Error::Full);
                }
                self.check_put()?;
                self.serialize_at(item, tail, needed)
                    .map_err(encode_error)?
            }
            Err(e) => return Err(encode_error(e)),
        };
        let chunk = Chunk {
            len: len as u32,
            flags: FIRST | LAST,
        };
        self.publish(tail, chunk, true, joinable);
        Ok(())
    }

    /// Bytes free after `tail` for the next message.
    ///
    /// When the ring is nearly full, a busy consumer is releasing the very
    /// bytes this producer would write next: one message at a time, both
    /// sides would trade the same cache lines (and the line holding `head`)
    /// on every message. So the producer first gives the consumers a moment
    /// to free a batch, without sleeping or announcing anything; after that
    /// it writes into whatever room there is: a missing batch never makes
    /// a `put` block or fail, and the moment never outlasts the put's
    /// deadline (a `try_put` takes none).
    #[inline]
    fn room(&self, tail: u64, deadline: &Deadline) -> u64 {
        let low_water = LOW_WATER.min(self.capacity() / 4);
        let room = self.free_bytes(tail, false);
        if room >= low_water {
            return room;
        }
        let room = self.free_bytes(tail, true);
        let limit = deadline
            .remaining()
            .map_or(BATCH_WAIT, |left| left.min(BATCH_WAIT));
        if room >= low_water || limit.is_zero() {
            return room;
        }
        spin(limit, || {
            self.free_bytes(tail, true) >= low_water || self.stop_putting()
        });
        self.free_bytes(tail, false)
    }

    /// Bytes free after `tail`, from this process's view of `head`
    /// (`refresh` re-reads it first; otherwise only when the view says full).
    #[inline]
    pub(super) fn free_bytes(&self, tail: u64, refresh: bool) -> u64 {
        let mut head = self.head_seen.load(Ordering::Relaxed);
        if refresh || tail - head >= self.capacity() {
            head = self.header().consumer.0.head.load(Ordering::Acquire);
            self.head_seen.store(head, Ordering::Relaxed);
        }
        self.capacity() - (tail - head)
    }

    /// Serializes `item` as the payload of a chunk starting at `tail`,
    /// within `room` ring bytes (header included). Returns the payload length.
    fn serialize_at<T: Serialize + ?Sized>(
        &self,
        item: &T,
        tail: u64,
        room: u64,
    ) -> postcard::Result<usize> {
        let payload_room = room
            .saturating_sub(chunk::HEADER as u64)
            .min(u64::from(u32::MAX));
        // Inside the free space the producer checked (`room`).
        let writer = RingWriter(
            self.ring
                .cursor(tail + chunk::HEADER as u64, payload_room as usize),
        );
        postcard::serialize_with_flavor(item, writer)
    }

    /// Writes the chunk header at `at` and publishes the chunk. `last`
    /// completes a message.
    #[inline]
    pub(super) fn publish(&self, at: u64, chunk: Chunk, last: bool, joinable: bool) {
        let h = self.header();
        // `at .. at + 16` is past `tail` and inside the free space this
        // producer (in the producers' turn) checked.
        self.ring
            .write_array(at + chunk::FIELDS_AT, &chunk.encode());
        if last {
            if joinable {
                h.unfinished.0.fetch_add(1, Ordering::AcqRel);
            }
            let puts = h.producer.0.puts.load(Ordering::Relaxed);
            h.producer.0.puts.store(puts + 1, Ordering::Release);
        }
        // The tag last: consumers see the whole chunk once it matches.
        self.ring.store_tag(at, chunk::tag(at, self.tag_key));
        h.producer
            .0
            .tail
            .store(at + chunk.footprint(), Ordering::Release);
        self.wake_consumers();
    }

    #[inline(always)]
    fn lock_producers(&self, deadline: &Deadline) -> Result<Turn<'_>> {
        let bias = &self.header().put_bias.0;
        // A `match`, not `ok_or`: an eagerly made `Error` (which has drop
        // glue) would be built and dropped on every put.
        match self.puts.take(bias, deadline, |mid_turn| {
            self.after_dead_producer(mid_turn)
        }) {
            Some(turn) => Ok(turn),
            None => Err(Error::Full),
        }
    }

    /// Repairs the producers' side after a producer died holding it.
    #[cold]
    pub(super) fn after_dead_producer(&self, mid_turn: bool) {
        let h = self.header();
        let streaming = h.producer.0.streaming.swap(0, Ordering::AcqRel);
        // It may have died between publishing a chunk (its tag) and moving
        // `tail` past it: catch up, or the chunk would be overwritten under
        // a consumer.
        let mut tail = h.producer.0.tail.load(Ordering::Relaxed);
        while self.available(tail) {
            tail += self.chunk_at(tail).footprint();
        }
        h.producer.0.tail.store(tail, Ordering::Release);
        // If it had published part of a streamed message, the consumer that
        // meets the rest drops that message and counts it; if it died in
        // the middle of any other put (or of a stream before its first
        // chunk), its message was never visible: count it as lost here.
        let published = streaming != 0 && tail != h.producer.0.stream_start.load(Ordering::Relaxed);
        if mid_turn && !published {
            h.torn.0.fetch_add(1, Ordering::Relaxed);
        }
        self.wake_consumers();
    }
}

pub(super) fn encode_error(e: postcard::Error) -> Error {
    Error::Encode(mp_handle::Error::Encode(e))
}

/// The serialized length of `item`, by a counting pass.
fn serialized_len<T: Serialize + ?Sized>(item: &T) -> Result<usize> {
    postcard::serialize_with_flavor(item, Counter(0)).map_err(encode_error)
}

struct Counter(usize);

impl postcard::ser_flavors::Flavor for Counter {
    type Output = usize;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 += data.len();
        Ok(())
    }

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.0 += 1;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

/// Serializes into the free space of the ring; `SerializeBufferFull` when
/// the item does not fit.
struct RingWriter<'a>(Cursor<'a>);

impl postcard::ser_flavors::Flavor for RingWriter<'_> {
    type Output = usize;

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.0.extend(data) {
            Ok(())
        } else {
            Err(postcard::Error::SerializeBufferFull)
        }
    }

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        // serde sends a `Vec<u8>` byte by byte: this path stays short.
        if self.0.push(byte) {
            Ok(())
        } else {
            Err(postcard::Error::SerializeBufferFull)
        }
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0.written())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring_queue::Config;

    fn queue() -> RingQueue {
        RingQueue::create(Config {
            maxsize: 0,
            ring_size: 1 << 16,
        })
        .unwrap()
    }

    /// A producer that died streaming: its message counts as torn here
    /// when none of it was published (no consumer will ever meet it), and
    /// is left to the consumer that meets its first chunks otherwise.
    #[test]
    fn a_dead_streaming_producer_is_counted_once() {
        for published in [false, true] {
            let q = queue();
            let h = q.header();
            let start = h.producer.0.tail.load(Ordering::Relaxed);
            h.producer.0.stream_start.store(start, Ordering::Relaxed);
            h.producer.0.streaming.store(u32::MAX, Ordering::Relaxed);
            if published {
                let first = Chunk {
                    len: 0,
                    flags: FIRST,
                };
                q.publish(start, first, false, false);
            }
            q.after_dead_producer(true);
            assert_eq!(q.torn(), u64::from(!published), "published: {published}");
            assert_eq!(h.producer.0.streaming.load(Ordering::Relaxed), 0);
        }
    }
}
