//! The consumers' side of a ring queue: taking the consumers' turn,
//! reading a message straight out of the ring, releasing its bytes, and
//! dropping the remains of a message whose producer or consumer died.

use std::sync::atomic::Ordering;

use mp_internal::Deadline;
use serde::de::DeserializeOwned;

use super::{RingQueue, SLEEP_SLICE};
use crate::chunk::{self, Chunk};
use crate::error::{Error, Result};
use crate::header::{OPEN, SHUT_DOWN_NOW};
use crate::turn::Turn;
use crate::wait::{LIVENESS_SLICE, wait_for, wake_all};

impl RingQueue {
    pub(crate) fn get<T: DeserializeOwned>(&self, deadline: &Deadline) -> Result<T> {
        self.check_open()?;
        // Dropped last, after the turn ends (see `after_consumers_turn`).
        let _after = AfterTurn(self);
        let _guard = self.lock_consumers(deadline)?;
        self.get_in_turn(deadline)
    }

    /// The rest of `get`, in the consumers' turn.
    #[inline(always)]
    pub(super) fn get_in_turn<T: DeserializeOwned>(&self, deadline: &Deadline) -> Result<T> {
        let h = self.header();
        // In the consumers' turn: after `shutdown(true)` (which drops the
        // queued items in this turn) nothing more is taken.
        if self.shutdown_state() == SHUT_DOWN_NOW {
            return Err(Error::ShutDown);
        }
        loop {
            let head = h.consumer.0.head.load(Ordering::Relaxed);
            let arrived = wait_for(&h.data.0, deadline, SLEEP_SLICE, || {
                self.available(head) || self.is_closed() || self.shutdown_state() != OPEN
            });
            if !arrived || !self.available(head) {
                return Err(self.nothing_to_get());
            }
            let first = self.chunk_at(head);
            if !first.is_first() {
                if first.is_abandoned() {
                    // All that is left of a streamed put that gave up.
                    self.release(head + first.footprint(), false);
                    continue;
                }
                // The rest of a message whose consumer died halfway through it.
                self.skip_torn(head);
                return Err(Error::Torn);
            }
            if first.is_last() {
                let payload = self
                    .ring
                    .read(head + chunk::HEADER as u64, first.len as usize);
                // Released once the item is decoded into the caller's slot
                // (the guard drops after the return value is made): the slot
                // is not copied again behind the stores that reach the
                // producers, which would wait for those stores to leave this
                // core.
                let _release = ReleaseOnDrop {
                    queue: self,
                    head: head + first.footprint(),
                };
                return decode(payload);
            }
            if let Some(taken) = self.take_streamed(head, first) {
                return taken;
            }
        }
    }

    /// Why a get found nothing: closed here, the queue shut down (and
    /// drained), or simply empty.
    #[cold]
    fn nothing_to_get(&self) -> Error {
        if self.is_closed() {
            Error::Closed
        } else if self.shutdown_state() != OPEN {
            Error::ShutDown
        } else {
            Error::Empty
        }
    }

    /// Takes a streamed message whose first chunk is at `head`, releasing
    /// each chunk at once so the producer can go on; `None` if its producer
    /// abandoned it (then it is gone, and not torn).
    #[cold]
    fn take_streamed<T: DeserializeOwned>(&self, mut head: u64, first: Chunk) -> Option<Result<T>> {
        let h = self.header();
        let mut bytes = Vec::new();
        let mut chunk = first;
        loop {
            bytes.extend_from_slice(
                self.ring
                    .read(head + chunk::HEADER as u64, chunk.len as usize),
            );
            head += chunk.footprint();
            self.release(head, chunk.is_last());
            if chunk.is_last() {
                return Some(decode(&bytes));
            }
            if !self.wait_for_stream(head) {
                // Its producer died.
                h.torn.0.fetch_add(1, Ordering::Relaxed);
                return Some(Err(Error::Torn));
            }
            chunk = self.chunk_at(head);
            if chunk.is_abandoned() {
                self.release(head + chunk.footprint(), false);
                return None;
            }
            if chunk.is_first() {
                // Its producer died, and another began a new message.
                h.torn.0.fetch_add(1, Ordering::Relaxed);
                return Some(Err(Error::Torn));
            }
        }
    }

    /// Whether a chunk is published at `head`.
    #[inline]
    pub(super) fn available(&self, head: u64) -> bool {
        self.ring.load_tag(head) == chunk::tag(head, self.tag_key)
    }

    #[inline]
    pub(super) fn chunk_at(&self, head: u64) -> Chunk {
        // Called only when `available(head)`: a published chunk header.
        Chunk::decode(self.ring.read(head + chunk::FIELDS_AT, 8))
    }

    /// Releases ring bytes up to `head`; `message_done` counts a message taken.
    #[inline]
    fn release(&self, head: u64, message_done: bool) {
        let h = self.header();
        if message_done {
            let gets = h.consumer.0.gets.load(Ordering::Relaxed);
            h.consumer.0.gets.store(gets + 1, Ordering::Release);
        }
        h.consumer.0.head.store(head, Ordering::Release);
        wake_all(&h.space.0);
    }

    /// Waits for the next chunk of a streamed message; false if the stream
    /// ended without it (its producer died: a live one ends its stream with
    /// a last or an abandoned chunk).
    fn wait_for_stream(&self, head: u64) -> bool {
        let h = self.header();
        let mut ok = true;
        wait_for(&h.data.0, &Deadline::never(), LIVENESS_SLICE, || {
            if self.available(head) {
                return true;
            }
            let producer = h.producer.0.streaming.load(Ordering::Acquire);
            if producer == 0 || !process_alive(producer) {
                // Look once more: the last chunk may have landed meanwhile.
                ok = self.available(head);
                return true;
            }
            false
        });
        ok && self.available(head)
    }

    /// Drops the remaining chunks of a torn message: up to its last or
    /// abandoned chunk, the start of the next message, or the end of its
    /// producer's stream.
    fn skip_torn(&self, mut head: u64) {
        let h = self.header();
        h.torn.0.fetch_add(1, Ordering::Relaxed);
        loop {
            let chunk = self.chunk_at(head);
            if chunk.is_first() {
                return;
            }
            head += chunk.footprint();
            self.release(head, false);
            if chunk.is_last() || chunk.is_abandoned() || !self.wait_for_stream(head) {
                return;
            }
        }
    }

    #[inline(always)]
    pub(super) fn lock_consumers(&self, deadline: &Deadline) -> Result<Turn<'_>> {
        // After a consumer died, whatever it had half read is skipped by the
        // next `get` (a chunk that does not start a message): nothing to
        // repair.
        let bias = &self.header().get_bias.0;
        match self.gets.take(bias, deadline, |_| {}) {
            Some(turn) => Ok(turn),
            None => Err(Error::Empty),
        }
    }
}

fn process_alive(pid: u32) -> bool {
    rustix::process::Pid::from_raw(pid as i32)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

/// Runs `after_consumers_turn` when dropped (see `RingQueue::get`).
pub(super) struct AfterTurn<'a>(pub(super) &'a RingQueue);

impl Drop for AfterTurn<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.after_consumers_turn();
    }
}

/// Releases a single-chunk message when dropped (see `RingQueue::get`).
struct ReleaseOnDrop<'a> {
    queue: &'a RingQueue,
    head: u64,
}

impl Drop for ReleaseOnDrop<'_> {
    #[inline]
    fn drop(&mut self) {
        self.queue.release(self.head, true);
    }
}

/// Items are plain serde data: a queue cannot carry OS handles (an item
/// holding one already fails to encode at `put`), so no handle table is
/// installed here.
#[inline]
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    mp_internal::codec::from_bytes_exact(bytes)
        .map_err(|e| Error::Decode(mp_handle::Error::Decode(e)))
}
