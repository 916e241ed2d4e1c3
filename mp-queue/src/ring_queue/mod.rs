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
//!
//! The struct and what both sides share live here; the producers' side in
//! `producers` (and `streaming`, for messages larger than the ring), the
//! consumers' side in `consumers`, and how a queue crosses processes in
//! `wire`.

#[cfg(feature = "tokio")]
mod awaited;
mod consumers;
mod producers;
mod streaming;
mod wire;

use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mp_internal::Deadline;
use mp_shm::Lock;

use crate::chunk;
use crate::doorbell::Doorbell;
use crate::error::{Error, Result};
use crate::header::{Header, MAGIC, OPEN, SHUT_DOWN, SHUT_DOWN_NOW};
use crate::sys::Ring;
use crate::turn::Turns;
use crate::wait::{barrier, wait_for, wake_all, wake_everyone};

/// A sleep slice for waits that only a wake-up ends.
const SLEEP_SLICE: Duration = Duration::from_secs(3600);

/// One queue as this process sees it: the mapping of its memfd, the memfd
/// (to pass on), its doorbell, and each side's turns.
pub(crate) struct RingQueue {
    ring: Ring,
    fd: OwnedFd,
    /// Wakes consumers awaiting on an async executor (`doorbell`).
    doorbell: Doorbell,
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

impl RingQueue {
    pub(crate) fn create(config: Config) -> Result<RingQueue> {
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
        Ok(RingQueue::from_parts(
            fd,
            ring,
            Doorbell::create()?,
            Lock::new()?,
            Lock::new()?,
        ))
    }

    fn from_parts(
        fd: OwnedFd,
        ring: Ring,
        doorbell: Doorbell,
        put_lock: Lock,
        get_lock: Lock,
    ) -> RingQueue {
        let tag_key = ring.header().config.0.tag_key.load(Ordering::Relaxed);
        RingQueue {
            ring,
            fd,
            doorbell,
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
        // Sequentially consistent, as is the store to `sleeping` below, so
        // that an awaiting get that counted itself after this call's look
        // at `awaiting` sees the flag in its next try (its heavy barrier
        // comes after its count).
        self.closed.store(true, Ordering::SeqCst);
        // Waiters of this process look again and see it.
        let h = self.header();
        for wakeup in [&h.data.0, &h.space.0, &h.joined.0] {
            wake_everyone(wakeup);
        }
        self.doorbell.ring_if_awaited(&h.data.0);
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

    // ----- waking consumers ------------------------------------------------

    /// Wakes the consumers waiting for data, after a producer published
    /// (or repaired) something: blocking ones on the futex, awaiting ones
    /// (in any process) through the doorbell. Nothing more than
    /// `wake_all`'s load unless someone announced a sleep.
    #[inline]
    fn wake_consumers(&self) {
        let data = &self.header().data.0;
        if wake_all(data) {
            // `wake_all` stored 0 to `sleeping` (sequentially consistent)
            // before this load: see `get_async`.
            self.doorbell.ring_if_awaited(data);
        }
    }

    /// After a consumers' turn ended: an awaiting consumer that found the
    /// turn taken (by a get that may leave an item behind, or a blocking
    /// get waiting for data) and said so in `turn_missed` is woken to try
    /// again. On every get: a compiler fence and the load of a word that
    /// only an async waiter that met another consumer's turn sets.
    #[inline]
    fn after_consumers_turn(&self) {
        let data = &self.header().data.0;
        barrier::light();
        if data.turn_missed.load(Ordering::Relaxed) != 0 {
            self.turn_missed_ring();
        }
    }

    /// Takes on a `turn_missed` and rings (every waiter that set it
    /// registered the doorbell first; one that set it again after the
    /// store below hears this ring too).
    #[cold]
    fn turn_missed_ring(&self) {
        self.header().data.0.turn_missed.store(0, Ordering::SeqCst);
        self.doorbell.ring();
    }

    // ----- shutdown --------------------------------------------------------

    /// The queue's shutdown state (`header::OPEN`, `SHUT_DOWN`, `SHUT_DOWN_NOW`).
    #[inline]
    pub(crate) fn shutdown_state(&self) -> u32 {
        self.header().config.0.shutdown.load(Ordering::Acquire)
    }

    /// Whether puts must stop: closed in this process, or shut down.
    #[inline]
    fn stop_putting(&self) -> bool {
        self.is_closed() || self.shutdown_state() != OPEN
    }

    /// [`check_open`](RingQueue::check_open) for a producer in its turn:
    /// a shut down queue takes no more items.
    #[inline]
    fn check_put(&self) -> Result<()> {
        if self.stop_putting() {
            Err(self.put_stopped())
        } else {
            Ok(())
        }
    }

    /// Why puts stopped (closed takes precedence: it is this process's own call).
    #[cold]
    fn put_stopped(&self) -> Error {
        if self.is_closed() {
            Error::Closed
        } else {
            Error::ShutDown
        }
    }

    /// Shuts the queue down for every process (Python 3.13's
    /// `shutdown(immediate)`): puts fail from now on; with `immediate`,
    /// the items in the queue are dropped (each counting as a task done)
    /// and gets fail at once, otherwise gets drain what is there first.
    /// Everyone blocked in a put, a get or a join looks again.
    ///
    /// With `immediate` this takes the producers' turn, then the
    /// consumers' turn, so it waits for the put and the get in progress
    /// (blocked ones give up at once).
    pub(crate) fn shutdown(&self, immediate: bool) {
        let h = self.header();
        let level = if immediate { SHUT_DOWN_NOW } else { SHUT_DOWN };
        // Sequentially consistent for the awaiting gets, as in `close`.
        h.config.0.shutdown.fetch_max(level, Ordering::SeqCst);
        for wakeup in [&h.data.0, &h.space.0, &h.joined.0] {
            wake_everyone(wakeup);
        }
        self.doorbell.ring_if_awaited(&h.data.0);
        if immediate {
            self.drop_queued();
        }
    }

    /// Drops every queued item, under both sides' turns (no put or get is
    /// half done meanwhile), and counts each as a task done.
    fn drop_queued(&self) {
        let h = self.header();
        let never = Deadline::never();
        let producers = self
            .puts
            .take(&h.put_bias.0, &never, |mid_turn| {
                self.after_dead_producer(mid_turn)
            })
            .expect("no deadline");
        let consumers = self
            .gets
            .take(&h.get_bias.0, &never, |_| {})
            .expect("no deadline");
        let puts = h.producer.0.puts.load(Ordering::Acquire);
        let gets = h.consumer.0.gets.load(Ordering::Relaxed);
        let dropped = puts.saturating_sub(gets);
        // Every published byte is released: whole messages, and the
        // remains of torn or abandoned ones.
        let tail = h.producer.0.tail.load(Ordering::Acquire);
        h.consumer.0.gets.store(puts, Ordering::Release);
        h.consumer.0.head.store(tail, Ordering::Release);
        drop(consumers);
        self.after_consumers_turn();
        drop(producers);
        wake_everyone(&h.space.0);
        let _ = h
            .unfinished
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_sub(dropped))
            });
        wake_everyone(&h.joined.0);
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

impl Drop for RingQueue {
    fn drop(&mut self) {
        let h = self.header();
        self.puts.give_back(&h.put_bias.0);
        self.gets.give_back(&h.get_bias.0);
    }
}

impl fmt::Debug for RingQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("ring_size", &self.capacity())
            .field("closed", &self.is_closed())
            .field("shut_down", &(self.shutdown_state() != OPEN))
            .finish()
    }
}
