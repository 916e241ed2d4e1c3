//! Messages larger than the ring: streamed through it chunk by chunk while
//! consumers take them.

use std::sync::atomic::Ordering;

use mp_internal::Deadline;
use serde::Serialize;

use super::producers::encode_error;
use super::{RingQueue, SLEEP_SLICE};
use crate::chunk::{self, ABANDONED, Chunk, FIRST, LAST};
use crate::error::{Error, Result};
use crate::wait::wait_for;

impl RingQueue {
    /// Sends a message larger than the ring, chunk by chunk, as consumers
    /// make room.
    ///
    /// A put that gives up part way (out of time, closed, shut down, an encode error
    /// or a panic in the item's `Serialize`) ends the chunks it published
    /// with an `ABANDONED` one, for which it always keeps room: the queue is
    /// then as if the put had not been called (no item, no torn message),
    /// but for the ring bytes those chunks hold until a consumer passes them.
    pub(super) fn stream<T: Serialize + ?Sized>(
        &self,
        item: &T,
        deadline: &Deadline,
        joinable: bool,
    ) -> Result<()> {
        let h = self.header();
        let start = h.producer.0.tail.load(Ordering::Relaxed);
        h.producer.0.stream_start.store(start, Ordering::Relaxed);
        h.producer
            .0
            .streaming
            .store(std::process::id(), Ordering::Release);
        let writer = StreamWriter {
            queue: self,
            deadline,
            joinable,
            chunk_start: start,
            len: 0,
            room: 0,
            first: true,
            done: false,
        };
        match postcard::serialize_with_flavor(item, writer) {
            Ok(()) => Ok(()),
            // The writer gave up for lack of room, or because the queue was
            // closed meanwhile.
            Err(postcard::Error::SerializeBufferFull) if self.stop_putting() => {
                Err(self.put_stopped())
            }
            Err(postcard::Error::SerializeBufferFull) => Err(Error::Full),
            Err(e) => Err(encode_error(e)),
        }
    }
}

/// Ring bytes a stream keeps free after each chunk it publishes, for the
/// chunk that abandons it.
const ABANDON_ROOM: u64 = chunk::HEADER as u64;

/// Serializes a message larger than the ring: fills the free space (but
/// for [`ABANDON_ROOM`]), publishes it as a chunk, waits for consumers to
/// make room, goes on. Dropped unfinished, it abandons the stream.
struct StreamWriter<'a> {
    queue: &'a RingQueue,
    deadline: &'a Deadline,
    joinable: bool,
    chunk_start: u64,
    /// Payload bytes in the current chunk.
    len: u64,
    /// Bytes known free after the current chunk's payload and the abandon
    /// room (a lower bound: consumers only ever make more).
    room: u64,
    first: bool,
    /// The last chunk is published.
    done: bool,
}

impl StreamWriter<'_> {
    fn flush(&mut self, last: bool) {
        let mut flags = if last { LAST } else { 0 };
        if self.first {
            flags |= FIRST;
        }
        self.publish(Chunk {
            len: self.len as u32,
            flags,
        });
        self.first = false;
        self.done = last;
    }

    /// Publishes `chunk` (the current one, or the abandon marker in its
    /// place) and starts the next after it.
    fn publish(&mut self, chunk: Chunk) {
        let last = chunk.is_last();
        self.queue
            .publish(self.chunk_start, chunk, last, self.joinable);
        self.chunk_start += chunk.footprint();
        self.len = 0;
        self.room = 0;
    }
}

impl Drop for StreamWriter<'_> {
    fn drop(&mut self) {
        // Unfinished after publishing chunks: end them with a marker in
        // place of the current chunk (never waits: the chunks before it
        // left ABANDON_ROOM free). Nothing published: nothing to undo.
        if !self.done && !self.first {
            self.publish(Chunk {
                len: 0,
                flags: ABANDONED,
            });
        }
        let h = self.queue.header();
        h.producer.0.streaming.store(0, Ordering::Release);
        // Consumers waiting for the next chunk look again.
        self.queue.wake_consumers();
    }
}

impl postcard::ser_flavors::Flavor for StreamWriter<'_> {
    type Output = ();

    fn try_extend(&mut self, mut data: &[u8]) -> postcard::Result<()> {
        let queue = self.queue;
        let header = chunk::HEADER as u64;
        while !data.is_empty() {
            if self.room == 0 {
                self.room = queue
                    .free_bytes(self.chunk_start, false)
                    .saturating_sub(header + self.len + ABANDON_ROOM);
            }
            if self.room == 0 {
                if self.len > 0 {
                    self.flush(false);
                }
                let start = self.chunk_start;
                // Room for a chunk header, at least 8 payload bytes, and
                // the abandon room after them.
                let needed = header + 8 + ABANDON_ROOM;
                let space = &queue.header().space.0;
                if !wait_for(space, self.deadline, SLEEP_SLICE, || {
                    queue.free_bytes(start, true) >= needed || queue.stop_putting()
                }) {
                    return Err(postcard::Error::SerializeBufferFull);
                }
                if queue.stop_putting() {
                    return Err(postcard::Error::SerializeBufferFull);
                }
                self.room = queue.free_bytes(start, false) - header - ABANDON_ROOM;
            }
            // Rings are smaller than 4 GiB, so a chunk length fits a u32.
            let take = self.room.min(data.len() as u64) as usize;
            // Inside the free space just checked, past `tail`.
            queue
                .ring
                .write(self.chunk_start + header + self.len, &data[..take]);
            self.len += take as u64;
            self.room -= take as u64;
            data = &data[take..];
        }
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        if self.room == 0 {
            return self.try_extend(&[byte]);
        }
        self.queue
            .ring
            .write_byte(self.chunk_start + chunk::HEADER as u64 + self.len, byte);
        self.len += 1;
        self.room -= 1;
        Ok(())
    }

    fn finalize(mut self) -> postcard::Result<()> {
        self.flush(true);
        Ok(())
    }
}
