//! The shared-memory fast path of a [`pipe`](crate::pipe): messages through
//! a ring per direction, the socket kept for OS handles, for large
//! messages, for readiness and for end of file.
//!
//! # The protocol
//!
//! Each direction (a *lane*, see `lane`) has a byte ring in a sealed memfd
//! that both ends map (see `segment`). Its writers take turns under a
//! robust process-shared lock (`mp_internal::robust_lock`), its readers
//! under another, so that any number of threads and processes may send on
//! (or receive from) clones of one end, and every message arrives whole.
//!
//! - **A message without handles that fits** (at most [`RING_MESSAGE_MAX`]
//!   bytes) is copied into the ring and published by advancing `tail`. A
//!   writer that dies before that published nothing; one that dies after
//!   it published a whole message.
//! - **Any other message** (one carrying descriptors, or a large one) goes
//!   on the socket, announced in the ring by a `Socket` entry that holds its
//!   length: the ring gives the order, so ring and socket messages arrive
//!   in the order they were sent. On the socket a message is a tag byte
//!   ([`FRAME_TAG`]), its length and descriptor count, and its bytes. The
//!   lane's `sock` word says whether such a message is in progress
//!   (`SOCK_BUSY`, set before the announcement, at `sock_marker`), and a
//!   writer that gave up before writing a byte marks it `SOCK_CANCELLED`.
//!   A reader inside a socket message that finds the socket drained takes
//!   the writers' lock (it is free or its holder is dead): if the message
//!   is still `SOCK_BUSY`, its writer died or gave up partway, and the
//!   reader drops what arrived as [`Error::Torn`](crate::Error::Torn); the
//!   stream goes on with the next message. Writers wait for the reader to
//!   settle a torn or cancelled message before they write to the socket.
//! - **Wake-ups.** A reader spins for a moment ([`SPIN_FOR`]) on `tail`,
//!   then announces its sleep (`sleepers`), looks at `tail` once more and
//!   sleeps in `poll` on the socket. A writer that published and then sees
//!   a sleeper writes a one-byte doorbell ([`DOORBELL`]) on the socket,
//!   which readers skip. The two store-then-load sequences (the writer's
//!   `tail` then `sleepers`, the sleeper's `sleepers` then `tail`) are
//!   ordered by `mp_internal::barrier`'s asymmetric barrier, as in
//!   mp-queue: the sleeper's `membarrier` makes a writer that published
//!   after the sleeper's last look see the sleeper, so no wake-up is lost.
//!   Because readers sleep on the socket, `poll`, `wait` and end of file
//!   keep their meaning: a dead peer is end of file on the socket, seen by
//!   the sleeping reader once the ring is empty.
//! - **Space.** A writer that finds the ring full spins, then sleeps on the
//!   lane's `space` futex word in slices, looking between slices whether the
//!   peer hung up; a reader that frees space wakes it.
//!
//! A reader whose end has just rung the doorbell spins longer
//! ([`SPIN_AFTER_WAKING`]): its peer's answer is a wake-up away, and if it
//! slept meanwhile, the peer would find it asleep and ring too, and the
//! two would sleep on every message from then on.
//!
//! What a sleeper costs: nothing after its spin. A sleeper that was killed
//! leaves `sleepers` counted up, and writers of that lane then ring the
//! doorbell on every message (a system call each) until the pipe is gone.
//!
//! What is not covered: a reader killed (or dropped) in the middle of a
//! socket message leaves the rest of it on the socket, where no one can
//! find its end: the lane is then marked broken and every later receive on
//! that end is [`Error::Corrupt`](crate::Error::Corrupt). Ring messages, and
//! every writer's death, are covered.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mp_internal::robust_lock::Acquired;
use mp_internal::{Deadline, barrier, futex};
use parking_lot::Mutex;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use crate::error::{Error, Result};
use crate::fast_recv::Receiving;
use crate::lane::{
    ENTRY_HEAD, Entry, Kind, Lane, SOCK_BUSY, SOCK_CANCELLED, SOCK_IDLE, SOCKET_ENTRY_LEN,
    footprint,
};
use crate::segment::Segment;
use crate::socket::Stream;

/// Bytes in each direction's ring.
pub(crate) const RING_BYTES: usize = 64 * 1024;

/// The largest message that goes through the ring; larger ones take the
/// socket, where a copy costs little next to their size.
pub(crate) const RING_MESSAGE_MAX: usize = 16 * 1024;

/// How long a waiter spins before it sleeps: long enough to catch a peer
/// that answers at once, far shorter than the 50-60 µs a cross-core
/// wake-up costs on an idle vCPU.
pub(crate) const SPIN_FOR: Duration = Duration::from_micros(30);

/// How long a reader spins when this end has just woken its peer (rung
/// the doorbell): the answer is at least a wake-up (50-60 µs) away, and a
/// reader that slept through it would make its own peer ring and wait
/// too, and so on: both sides would sleep on every message.
pub(crate) const SPIN_AFTER_WAKING: Duration = Duration::from_micros(150);

/// A sleeping reader looks at the ring at least this often, in case a
/// writer died between publishing and ringing the doorbell.
pub(crate) const IDLE_SLICE: Duration = Duration::from_secs(2);

/// Waits that depend on another process's progress (a torn message, a
/// full ring) look around this often.
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// The byte a writer sends on the socket to wake a sleeping reader.
pub(crate) const DOORBELL: u8 = 0xD0;

/// The byte that starts a message on the socket.
pub(crate) const FRAME_TAG: u8 = 0xF5;

/// A socket message's head: [`FRAME_TAG`], length (`u64` LE), descriptor
/// count (`u32` LE).
pub(crate) const FRAME_HEAD: usize = 13;

/// One end's view of a pipe's shared memory.
pub(crate) struct FastPath {
    pub(crate) segment: Arc<Segment>,
    /// The lane this end reads, if it reads.
    pub(crate) incoming: Option<usize>,
    /// The lane this end writes, if it writes.
    pub(crate) outgoing: Option<usize>,
    /// This handle's last look at the outgoing lane's `head` (it only
    /// grows, so a stale value is merely pessimistic).
    head_seen: AtomicU64,
    /// This end saw end of file: the peer is gone, sends fail.
    peer_gone: AtomicBool,
    /// This handle rang the doorbell since its last receive.
    pub(crate) rang: AtomicBool,
    pub(crate) receiving: Mutex<Receiving>,
}

/// The writers' lock of a lane, released when dropped.
struct WriterTurn<'a> {
    lane: &'a Lane,
}

impl Drop for WriterTurn<'_> {
    fn drop(&mut self) {
        self.lane.writer.0.lock.unlock();
    }
}

impl FastPath {
    pub(crate) fn new(
        segment: Arc<Segment>,
        incoming: Option<usize>,
        outgoing: Option<usize>,
    ) -> FastPath {
        FastPath {
            segment,
            incoming,
            outgoing,
            head_seen: AtomicU64::new(0),
            peer_gone: AtomicBool::new(false),
            rang: AtomicBool::new(false),
            receiving: Mutex::new(Receiving::default()),
        }
    }

    /// A second handle on the same ends (for `try_clone`).
    pub(crate) fn share(&self) -> FastPath {
        FastPath::new(self.segment.clone(), self.incoming, self.outgoing)
    }

    pub(crate) fn lane(&self, i: usize) -> &Lane {
        self.segment.lane(i)
    }

    pub(crate) fn mark_peer_gone(&self) {
        self.peer_gone.store(true, Ordering::Relaxed);
    }

    fn check_peer(&self) -> Result<()> {
        if self.peer_gone.load(Ordering::Relaxed) {
            return Err(broken_pipe());
        }
        Ok(())
    }

    /// The limit of the reading end of `lane` (this end's for the
    /// incoming lane, the peer's for the outgoing one).
    pub(crate) fn limit(&self, lane: usize) -> u64 {
        self.lane(lane).limit.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set_limit(&self, lane: usize, bytes: u64) {
        self.lane(lane).limit.0.store(bytes, Ordering::Relaxed);
    }

    /// Sends `payload` through the ring (it has no handles and at most
    /// [`RING_MESSAGE_MAX`] bytes). [`Error::Timeout`] means nothing was
    /// published.
    pub(crate) fn send_in_ring(
        &self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        deadline: &Deadline,
    ) -> Result<()> {
        debug_assert!(payload.len() <= RING_MESSAGE_MAX);
        let i = self.outgoing.ok_or(Error::NotWritable)?;
        self.check_peer()?;
        let lane = self.lane(i);
        let _turn = self.writers_turn(lane, sock, deadline)?;
        let tail = lane.tail.0.load(Ordering::Relaxed);
        let needed = footprint(payload.len());
        self.wait_for_space(lane, sock, tail, needed, deadline)?;
        let entry = Entry {
            kind: Kind::Data,
            len: payload.len() as u32,
        };
        self.segment.write(i, tail, &entry.encode());
        self.segment.write(i, tail + ENTRY_HEAD as u64, payload);
        lane.tail.0.store(tail + needed, Ordering::Release);
        self.wake_reader(lane, sock)
    }

    /// Sends a message on the socket, announced in the ring (see the
    /// module docs). `parts` are its bytes, `fds` the descriptors that
    /// travel with it.
    pub(crate) fn send_on_socket(
        &self,
        sock: BorrowedFd<'_>,
        parts: &[&[u8]],
        fds: &[OwnedFd],
        deadline: &Deadline,
    ) -> Result<()> {
        let i = self.outgoing.ok_or(Error::NotWritable)?;
        self.check_peer()?;
        let lane = self.lane(i);
        let w = &lane.writer.0;
        // The socket must be free of a torn or cancelled message first:
        // the reader settles those holding our lock, so wait without it.
        let _turn = loop {
            let turn = self.writers_turn(lane, sock, deadline)?;
            let state = w.sock.load(Ordering::Acquire);
            if state == SOCK_IDLE {
                break turn;
            }
            drop(turn);
            let left = deadline
                .remaining()
                .map_or(LIVENESS_SLICE, |left| left.min(LIVENESS_SLICE));
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            futex::wait(&w.sock, state, Some(left));
        };
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let tail = lane.tail.0.load(Ordering::Relaxed);
        let needed = footprint(SOCKET_ENTRY_LEN as usize);
        self.wait_for_space(lane, sock, tail, needed, deadline)?;
        // Busy before the announcement: a writer that dies in between is
        // told apart by `tail` not having passed `sock_marker`.
        w.sock_marker.store(tail, Ordering::Relaxed);
        w.sock.store(SOCK_BUSY, Ordering::Release);
        let entry = Entry {
            kind: Kind::Socket,
            len: SOCKET_ENTRY_LEN,
        };
        self.segment.write(i, tail, &entry.encode());
        self.segment
            .write(i, tail + ENTRY_HEAD as u64, &(len as u64).to_le_bytes());
        lane.tail.0.store(tail + needed, Ordering::Release);
        let mut head = [0u8; FRAME_HEAD];
        head[0] = FRAME_TAG;
        head[1..9].copy_from_slice(&(len as u64).to_le_bytes());
        head[9..].copy_from_slice(&(fds.len() as u32).to_le_bytes());
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(&head[..]);
        all.extend_from_slice(parts);
        let stream = Stream::Plain {
            fd: sock,
            handles: true,
        };
        match stream.send_all(&all, fds, deadline) {
            Ok(()) => {
                w.sock.store(SOCK_IDLE, Ordering::Release);
                futex::wake_all(&w.sock);
                Ok(())
            }
            Err(failure) if !failure.partial => {
                // Nothing of it went out: the reader skips the announcement.
                w.sock.store(SOCK_CANCELLED, Ordering::Release);
                futex::wake_all(&w.sock);
                let _ = self.doorbell(sock);
                Err(failure.error)
            }
            // Part of it went out: the reader drops it as torn once it
            // has drained the socket (it takes our lock for that).
            Err(failure) => Err(match failure.error {
                Error::Timeout => Error::Torn,
                other => other,
            }),
        }
    }

    /// Takes the writers' lock of `lane`, repairing the lane if the last
    /// holder died holding it.
    fn writers_turn<'a>(
        &self,
        lane: &'a Lane,
        sock: BorrowedFd<'_>,
        deadline: &Deadline,
    ) -> Result<WriterTurn<'a>> {
        match lane.writer.0.lock.lock(deadline) {
            None => Err(Error::Timeout),
            Some(Acquired::Clean) => Ok(WriterTurn { lane }),
            Some(Acquired::OwnerDied) => {
                let turn = WriterTurn { lane };
                let w = &lane.writer.0;
                // A writer that died before it announced its socket
                // message left nothing for the reader to settle.
                if w.sock.load(Ordering::Acquire) == SOCK_BUSY
                    && lane.tail.0.load(Ordering::Relaxed) <= w.sock_marker.load(Ordering::Relaxed)
                {
                    w.sock.store(SOCK_IDLE, Ordering::Release);
                    futex::wake_all(&w.sock);
                }
                // It may have published without ringing the doorbell.
                let _ = self.wake_reader(lane, sock);
                Ok(turn)
            }
        }
    }

    /// Waits until `needed` ring bytes are free after `tail`.
    fn wait_for_space(
        &self,
        lane: &Lane,
        sock: BorrowedFd<'_>,
        tail: u64,
        needed: u64,
        deadline: &Deadline,
    ) -> Result<()> {
        let capacity = self.segment.capacity() as u64;
        let free = |refresh: bool| {
            let mut head = self.head_seen.load(Ordering::Relaxed);
            if refresh {
                head = lane.reader.0.head.load(Ordering::Acquire);
                self.head_seen.store(head, Ordering::Relaxed);
            }
            capacity.saturating_sub(tail.wrapping_sub(head))
        };
        if free(false) >= needed || free(true) >= needed {
            return Ok(());
        }
        let spin = deadline
            .remaining()
            .map_or(SPIN_FOR, |left| left.min(SPIN_FOR));
        if mp_internal::spin::until(spin, || free(true) >= needed) {
            return Ok(());
        }
        loop {
            lane.space.0.store(1, Ordering::SeqCst);
            let slice = if barrier::heavy() {
                LIVENESS_SLICE
            } else {
                barrier::FALLBACK_SLICE
            };
            if free(true) >= needed {
                return Ok(());
            }
            if hung_up(sock) {
                self.mark_peer_gone();
                return Err(broken_pipe());
            }
            let left = deadline.remaining().map_or(slice, |left| left.min(slice));
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            futex::wait(&lane.space.0, 1, Some(left));
        }
    }

    /// After publishing: rings the doorbell if a reader sleeps.
    #[inline]
    fn wake_reader(&self, lane: &Lane, sock: BorrowedFd<'_>) -> Result<()> {
        barrier::light();
        if lane.sleepers.0.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        self.rang.store(true, Ordering::Relaxed);
        self.doorbell(sock)
    }

    /// Writes one doorbell byte, without waiting: a full socket is
    /// readable already.
    fn doorbell(&self, sock: BorrowedFd<'_>) -> Result<()> {
        loop {
            match rustix::net::send(sock, &[DOORBELL], SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
                Ok(_) | Err(Errno::AGAIN) => return Ok(()),
                Err(Errno::INTR) => {}
                Err(Errno::PIPE | Errno::CONNRESET) => {
                    self.mark_peer_gone();
                    return Err(broken_pipe());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether a message (or end of file) can be received on the incoming
    /// lane without waiting: one is published in the ring.
    #[inline]
    pub(crate) fn ring_has_entry(&self) -> bool {
        self.incoming.is_some_and(|i| {
            let lane = self.lane(i);
            lane.tail.0.load(Ordering::Acquire) != lane.reader.0.head.load(Ordering::Acquire)
        })
    }

    /// Announces a sleep on the socket to the incoming lane's writers;
    /// true if a message arrived meanwhile (then nothing is announced).
    pub(crate) fn announce_sleep(&self) -> bool {
        let Some(i) = self.incoming else { return false };
        self.lane(i).sleepers.0.fetch_add(1, Ordering::SeqCst);
        barrier::heavy();
        if self.ring_has_entry() {
            self.end_sleep();
            return true;
        }
        false
    }

    /// Takes back an [`announce_sleep`](Self::announce_sleep).
    pub(crate) fn end_sleep(&self) {
        if let Some(i) = self.incoming {
            let _ =
                self.lane(i)
                    .sleepers
                    .0
                    .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Waits until a message (or end of file) can be received, or the
    /// deadline passes (Python's `poll`).
    pub(crate) fn poll(&self, sock: BorrowedFd<'_>, deadline: &Deadline) -> Result<bool> {
        if self.incoming.is_none() {
            return Err(Error::NotReadable);
        }
        let spin = deadline
            .remaining()
            .map_or(SPIN_FOR, |left| left.min(SPIN_FOR));
        if self.ring_has_entry()
            || (!spin.is_zero() && mp_internal::spin::until_answer(spin, || self.ring_has_entry()))
        {
            return Ok(true);
        }
        loop {
            if self.announce_sleep() {
                return Ok(true);
            }
            let left = deadline
                .remaining()
                .map_or(IDLE_SLICE, |left| left.min(IDLE_SLICE));
            // A zero wait still looks once (end of file is readable).
            let readable = crate::fast_recv::poll_in(sock, left);
            self.end_sleep();
            if readable? && self.confirm_ready(sock)? || self.ring_has_entry() {
                return Ok(true);
            }
            if deadline.passed() {
                return Ok(false);
            }
        }
    }

    /// After `poll` found the socket readable: drains doorbells if no
    /// reader is busy, and says whether a receive would now find
    /// something (a message, or end of file).
    pub(crate) fn confirm_ready(&self, sock: BorrowedFd<'_>) -> Result<bool> {
        let Some(i) = self.incoming else {
            return Ok(true);
        };
        if self.ring_has_entry() {
            return Ok(true);
        }
        let lane = self.lane(i);
        let front = match lane.reader.0.lock.try_lock() {
            Some(_) => {
                let front = drain_doorbells(sock);
                lane.reader.0.lock.unlock();
                front?
            }
            // A reader is at work: it drains the doorbells; look again soon.
            None => {
                std::thread::yield_now();
                peek_front(sock)?
            }
        };
        Ok(match front {
            Front::Empty | Front::Doorbells => self.ring_has_entry(),
            Front::Eof | Front::Message => true,
        })
    }
}

impl Drop for FastPath {
    fn drop(&mut self) {
        // A socket message half read by this handle: no one else can find
        // its end (see the module docs).
        let Some(i) = self.incoming else { return };
        if self.receiving.get_mut().in_frame() {
            let r = &self.segment.lane(i).reader.0;
            r.broken.store(1, Ordering::Relaxed);
            r.mid_frame.store(0, Ordering::Relaxed);
            r.lock.unlock();
        }
    }
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath")
            .field("incoming", &self.incoming)
            .field("outgoing", &self.outgoing)
            .finish()
    }
}

/// What the socket holds at its front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Front {
    Empty,
    /// Only doorbells (not consumed).
    Doorbells,
    /// The start of a socket message.
    Message,
    Eof,
}

/// Looks at the socket's front without consuming anything.
fn peek_front(sock: BorrowedFd<'_>) -> Result<Front> {
    let mut peek = [0u8; 64];
    loop {
        return match rustix::net::recv(sock, &mut peek, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
            Ok((0, _)) => Ok(Front::Eof),
            Ok((n, _)) if peek[..n].iter().all(|&b| b == DOORBELL) => Ok(Front::Doorbells),
            Ok(_) => Ok(Front::Message),
            Err(Errno::AGAIN) => Ok(Front::Empty),
            Err(Errno::INTR) => continue,
            Err(Errno::CONNRESET) => Ok(Front::Eof),
            Err(e) => Err(e.into()),
        };
    }
}

/// Consumes the doorbells at the socket's front (the caller holds the
/// readers' lock) and says what is left there.
pub(crate) fn drain_doorbells(sock: BorrowedFd<'_>) -> Result<Front> {
    let mut peek = [0u8; 64];
    loop {
        let n = match rustix::net::recv(sock, &mut peek, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
            Ok((0, _)) => return Ok(Front::Eof),
            Ok((n, _)) => n,
            Err(Errno::AGAIN) => return Ok(Front::Empty),
            Err(Errno::INTR) => continue,
            Err(Errno::CONNRESET) => return Ok(Front::Eof),
            Err(e) => return Err(e.into()),
        };
        let bells = peek[..n].iter().take_while(|&&b| b == DOORBELL).count();
        if bells == 0 {
            return Ok(Front::Message);
        }
        // Exactly the doorbells: never a byte of the message after them
        // (nor the descriptors riding on it).
        let mut sink = [0u8; 64];
        loop {
            match rustix::net::recv(sock, &mut sink[..bells], RecvFlags::DONTWAIT) {
                Ok(_) => break,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether the peer has hung up (no more reader at the other end).
fn hung_up(sock: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::from_borrowed_fd(sock, PollFlags::empty())];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&zero))
        .is_ok_and(|n| n > 0 && fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR))
}

fn broken_pipe() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the peer has closed its end",
    ))
}
