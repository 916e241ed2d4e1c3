//! The untyped queue: the ring protocol shared by `Queue`, `SimpleQueue`
//! and `JoinableQueue`.
//!
//! Producers take turns (see `turn`: a robust lock, biased towards a lone
//! producer) to write a message and publish it by advancing `tail`;
//! consumers take turns to read one and release its bytes by advancing
//! `head`. Bytes in `head..tail` are only ever read, bytes past `tail` only
//! ever written, so the two sides never touch the same bytes. A process
//! that dies in its turn hands the side to the next with an "owner died"
//! indication, and the protocol then drops whatever message the dead
//! process had half done.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mp_handle::{Fd, FdRef};
use mp_internal::Deadline;
use mp_shm::Lock;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::chunk::{self, Chunk, FIRST, LAST};
use crate::error::{Error, Result};
use crate::header::{Header, MAGIC};
use crate::sys::{Cursor, Ring};
use crate::turn::{Turn, Turns};
use crate::wait::{LIVENESS_SLICE, spin, wait_for, wake_all, wake_everyone};

/// Free ring bytes below which a producer first lets the consumers free a
/// batch (see `Core::room`), and for how long at most.
const LOW_WATER: u64 = 4096;
const BATCH_WAIT: Duration = Duration::from_micros(20);

/// A sleep slice for waits that only a wake-up ends.
const SLEEP_SLICE: Duration = Duration::from_secs(3600);

pub(crate) struct Core {
    ring: Ring,
    fd: OwnedFd,
    /// Producers' turns and consumers' turns.
    puts: Turns,
    gets: Turns,
    /// This process's last look at `head`, for producers: it only grows, so
    /// a stale value is merely pessimistic, and re-reading the consumers'
    /// cache line is needed only when it says "no room". (Consumers never
    /// read `tail`: a chunk's own tag says it is there.)
    head_seen: AtomicU64,
    /// `close()` was called in this process.
    closed: AtomicBool,
    /// The queue's tag key (fixed at creation; a copy off the shared line).
    tag_key: u64,
}

/// Settings fixed when a queue is created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) maxsize: u64,
    pub(crate) ring_size: usize,
}

impl Core {
    pub(crate) fn create(config: Config) -> Result<Core> {
        let page = rustix::param::page_size();
        // A power of two (so positions map to offsets with a mask), at
        // least a page.
        let ring_size = config.ring_size.max(page).next_power_of_two();
        let (fd, ring) = Ring::create(ring_size)?;
        let header = ring.header();
        header
            .config
            .0
            .maxsize
            .store(config.maxsize, Ordering::Relaxed);
        header
            .config
            .0
            .tag_key
            .store(chunk::new_key(), Ordering::Relaxed);
        header.config.0.magic.store(MAGIC, Ordering::Release);
        Ok(Core::from_parts(fd, ring, Lock::new()?, Lock::new()?))
    }

    fn from_parts(fd: OwnedFd, ring: Ring, put_lock: Lock, get_lock: Lock) -> Core {
        let tag_key = ring.header().config.0.tag_key.load(Ordering::Relaxed);
        Core {
            ring,
            fd,
            puts: Turns::new(put_lock),
            gets: Turns::new(get_lock),
            head_seen: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            tag_key,
        }
    }

    #[inline]
    fn header(&self) -> &Header {
        self.ring.header()
    }

    #[inline]
    fn capacity(&self) -> u64 {
        self.ring.capacity() as u64
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Waiters of this process look again and see it.
        let h = self.header();
        for wakeup in [&h.data.0, &h.space.0, &h.joined.0] {
            wake_everyone(wakeup);
        }
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn maxsize(&self) -> u64 {
        self.header().config.0.maxsize.load(Ordering::Relaxed)
    }

    /// Items in the queue (approximate while others put and get, as in Python).
    #[inline]
    pub(crate) fn qsize(&self) -> u64 {
        let h = self.header();
        let gets = h.consumer.0.gets.load(Ordering::Acquire);
        h.producer
            .0
            .puts
            .load(Ordering::Acquire)
            .saturating_sub(gets)
    }

    pub(crate) fn torn(&self) -> u64 {
        self.header().torn.0.load(Ordering::Relaxed)
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    // ----- producers -------------------------------------------------------

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
                self.qsize() < maxsize || self.is_closed()
            })
        {
            return Err(Error::Full);
        }
        self.check_open()?;
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
                    self.free_bytes(tail, true) >= needed || self.is_closed()
                }) {
                    return Err(Error::Full);
                }
                self.check_open()?;
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
            self.free_bytes(tail, true) >= low_water || self.is_closed()
        });
        self.free_bytes(tail, false)
    }

    /// Bytes free after `tail`, from this process's view of `head`
    /// (`refresh` re-reads it first; otherwise only when the view says full).
    #[inline]
    fn free_bytes(&self, tail: u64, refresh: bool) -> u64 {
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
    fn publish(&self, at: u64, chunk: Chunk, last: bool, joinable: bool) {
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
        wake_all(&h.data.0);
    }

    /// Sends a message larger than the ring, chunk by chunk, as consumers
    /// make room.
    fn stream<T: Serialize + ?Sized>(
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
            core: self,
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
    fn after_dead_producer(&self, mid_turn: bool) {
        let h = self.header();
        // If it had published part of a streamed message, consumers drop
        // that message; if it died in the middle of any other put, its
        // message was never visible: count it as lost here.
        if h.producer.0.streaming.swap(0, Ordering::AcqRel) == 0 && mid_turn {
            h.torn.0.fetch_add(1, Ordering::Relaxed);
        }
        // It may have died between publishing a chunk (its tag) and moving
        // `tail` past it: catch up, or the chunk would be overwritten under
        // a consumer.
        let mut tail = h.producer.0.tail.load(Ordering::Relaxed);
        while self.available(tail) {
            tail += self.chunk_at(tail).footprint();
        }
        h.producer.0.tail.store(tail, Ordering::Release);
        wake_all(&h.data.0);
    }

    // ----- consumers -------------------------------------------------------

    pub(crate) fn get<T: DeserializeOwned>(&self, deadline: &Deadline) -> Result<T> {
        self.check_open()?;
        let _guard = self.lock_consumers(deadline)?;
        let h = self.header();
        let mut head = h.consumer.0.head.load(Ordering::Relaxed);
        let arrived = wait_for(&h.data.0, deadline, SLEEP_SLICE, || {
            self.available(head) || self.is_closed()
        });
        if !arrived || !self.available(head) {
            return Err(if self.is_closed() {
                Error::Closed
            } else {
                Error::Empty
            });
        }
        let first = self.chunk_at(head);
        if !first.is_first() {
            // The rest of a message whose consumer died halfway through it.
            self.skip_torn(head);
            return Err(Error::Torn);
        }
        if first.is_last() {
            let payload = self
                .ring
                .read(head + chunk::HEADER as u64, first.len as usize);
            // Released once the item is decoded into the caller's slot (the
            // guard drops after the return value is made): the slot is not
            // copied again behind the stores that reach the producers, which
            // would wait for those stores to leave this core.
            let _release = ReleaseOnDrop {
                core: self,
                head: head + first.footprint(),
            };
            return decode(payload);
        }
        // A streamed message: collect its chunks, releasing each at once so
        // the producer can go on.
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
                return decode(&bytes);
            }
            if !self.wait_for_stream(head) {
                h.torn.0.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Torn);
            }
            chunk = self.chunk_at(head);
            if chunk.is_first() {
                // The producer gave up (or died) and a new message began.
                h.torn.0.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Torn);
            }
        }
    }

    /// Whether a chunk is published at `head`.
    #[inline]
    fn available(&self, head: u64) -> bool {
        self.ring.load_tag(head) == chunk::tag(head, self.tag_key)
    }

    #[inline]
    fn chunk_at(&self, head: u64) -> Chunk {
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
    /// ended without it (its producer gave up or died).
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

    /// Drops the remaining chunks of a torn message: up to its last chunk,
    /// the start of the next message, or the end of its producer's stream.
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
            if chunk.is_last() || !self.wait_for_stream(head) {
                return;
            }
        }
    }

    #[inline(always)]
    fn lock_consumers(&self, deadline: &Deadline) -> Result<Turn<'_>> {
        // After a consumer died, whatever it had half read is skipped by the
        // next `get` (a chunk that does not start a message): nothing to
        // repair.
        let bias = &self.header().get_bias.0;
        match self.gets.take(bias, deadline, |_| {}) {
            Some(turn) => Ok(turn),
            None => Err(Error::Empty),
        }
    }

    // ----- JoinableQueue ---------------------------------------------------

    pub(crate) fn task_done(&self) -> Result<()> {
        let h = self.header();
        let mut left = h.unfinished.0.load(Ordering::Acquire);
        loop {
            if left == 0 {
                return Err(Error::TooManyTaskDone);
            }
            match h.unfinished.0.compare_exchange_weak(
                left,
                left - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => left = now,
            }
        }
        if left == 1 {
            wake_all(&h.joined.0);
        }
        Ok(())
    }

    pub(crate) fn join(&self, deadline: &Deadline) -> Result<()> {
        let h = self.header();
        if wait_for(&h.joined.0, deadline, SLEEP_SLICE, || {
            h.unfinished.0.load(Ordering::Acquire) == 0
        }) {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    pub(crate) fn unfinished(&self) -> u64 {
        self.header().unfinished.0.load(Ordering::Acquire)
    }
}

fn process_alive(pid: u32) -> bool {
    rustix::process::Pid::from_raw(pid as i32)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

/// Releases a single-chunk message when dropped (see `Core::get`).
struct ReleaseOnDrop<'a> {
    core: &'a Core,
    head: u64,
}

impl Drop for ReleaseOnDrop<'_> {
    #[inline]
    fn drop(&mut self) {
        self.core.release(self.head, true);
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

fn encode_error(e: postcard::Error) -> Error {
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

/// Serializes a message larger than the ring: fills the free space,
/// publishes it as a chunk, waits for consumers to make room, goes on.
struct StreamWriter<'a> {
    core: &'a Core,
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
        self.core
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
        let core = self.core;
        let header = chunk::HEADER as u64;
        while !data.is_empty() {
            if self.room == 0 {
                self.room = core
                    .free_bytes(self.chunk_start, false)
                    .saturating_sub(header + self.len);
            }
            if self.room == 0 {
                if self.len > 0 {
                    self.flush(false);
                }
                let start = self.chunk_start;
                // Room for a chunk header and at least 8 payload bytes.
                let space = &core.header().space.0;
                if !wait_for(space, self.deadline, SLEEP_SLICE, || {
                    core.free_bytes(start, true) >= header + 8 || core.is_closed()
                }) {
                    return Err(postcard::Error::SerializeBufferFull);
                }
                if core.is_closed() {
                    return Err(postcard::Error::SerializeBufferFull);
                }
                self.room = core.free_bytes(start, false) - header;
            }
            // Rings are smaller than 4 GiB, so a chunk length fits a u32.
            let take = self.room.min(data.len() as u64) as usize;
            // Inside the free space just checked, past `tail`.
            core.ring
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
        self.core
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

// ----- crossing processes --------------------------------------------------

#[derive(Serialize)]
struct WireRef<'a> {
    fd: FdRef<'a>,
    ring_size: u64,
    put_lock: &'a Lock,
    get_lock: &'a Lock,
}

#[derive(Deserialize)]
struct WireOwned {
    fd: Fd,
    ring_size: u64,
    put_lock: Lock,
    get_lock: Lock,
}

impl Serialize for Core {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireRef {
            fd: FdRef(self.fd.as_fd()),
            ring_size: self.capacity(),
            put_lock: self.puts.lock(),
            get_lock: self.gets.lock(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Core {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Core, D::Error> {
        use serde::de::Error as _;
        let wire = WireOwned::deserialize(deserializer)?;
        let fd = wire.fd.into_owned();
        let ring = Ring::map(fd.as_fd(), wire.ring_size as usize).map_err(D::Error::custom)?;
        if ring.header().config.0.magic.load(Ordering::Acquire) != MAGIC {
            return Err(D::Error::custom("not an mp queue"));
        }
        Ok(Core::from_parts(fd, ring, wire.put_lock, wire.get_lock))
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let h = self.header();
        self.puts.give_back(&h.put_bias.0);
        self.gets.give_back(&h.get_bias.0);
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("ring_size", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}
