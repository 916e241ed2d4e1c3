//! Messages larger than the ring: streamed through it chunk by chunk while
//! consumers take them.

use std::sync::atomic::Ordering;

use mp_internal::Deadline;
use serde::Serialize;

use super::producers::encode_error;
use super::{RingQueue, SLEEP_SLICE};
use crate::chunk::{self, Chunk, FIRST, LAST};
use crate::error::{Error, Result};
use crate::wait::{wait_for, wake_all};

impl RingQueue {
    /// Sends a message larger than the ring, chunk by chunk, as consumers
    /// make room.
    pub(super) fn stream<T: Serialize + ?Sized>(
        &self,
        item: &T,
        deadline: &Deadline,
        joinable: bool,
    ) -> Result<()> {
        let h = self.header();
        h.producer
            .0
            .streaming
            .store(std::process::id(), Ordering::Release);
        let writer = StreamWriter {
            queue: self,
            deadline,
            joinable,
            chunk_start: h.producer.0.tail.load(Ordering::Relaxed),
            len: 0,
            room: 0,
            first: true,
        };
        let result = postcard::serialize_with_flavor(item, writer);
        h.producer.0.streaming.store(0, Ordering::Release);
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                // Chunks already published are now a torn message: consumers
                // see the stream end without its last chunk and drop it.
                h.torn.0.fetch_add(1, Ordering::Relaxed);
                wake_all(&h.data.0);
                Err(if matches!(e, postcard::Error::SerializeBufferFull) {
                    // The writer gave up for lack of room, or because the
                    // queue was closed meanwhile.
                    if self.is_closed() {
                        Error::Closed
                    } else {
                        Error::Full
                    }
                } else {
                    encode_error(e)
                })
            }
        }
    }
}

/// Serializes a message larger than the ring: fills the free space,
/// publishes it as a chunk, waits for consumers to make room, goes on.
struct StreamWriter<'a> {
    queue: &'a RingQueue,
    deadline: &'a Deadline,
    joinable: bool,
    chunk_start: u64,
    /// Payload bytes in the current chunk.
    len: u64,
    /// Bytes known free after the current chunk's payload (a lower bound:
    /// consumers only ever make more).
    room: u64,
    first: bool,
}

impl StreamWriter<'_> {
    fn flush(&mut self, last: bool) {
        let mut flags = if last { LAST } else { 0 };
        if self.first {
            flags |= FIRST;
        }
        let chunk = Chunk {
            len: self.len as u32,
            flags,
        };
        self.queue
            .publish(self.chunk_start, chunk, last, self.joinable);
        self.chunk_start += chunk.footprint();
        self.len = 0;
        self.room = 0;
        self.first = false;
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
                    .saturating_sub(header + self.len);
            }
            if self.room == 0 {
                if self.len > 0 {
                    self.flush(false);
                }
                let start = self.chunk_start;
                // Room for a chunk header and at least 8 payload bytes.
                let space = &queue.header().space.0;
                if !wait_for(space, self.deadline, SLEEP_SLICE, || {
                    queue.free_bytes(start, true) >= header + 8 || queue.is_closed()
                }) {
                    return Err(postcard::Error::SerializeBufferFull);
                }
                if queue.is_closed() {
                    return Err(postcard::Error::SerializeBufferFull);
                }
                self.room = queue.free_bytes(start, false) - header;
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
