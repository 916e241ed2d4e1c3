//! The receiving side of the fast path (see `fast_path` for the protocol):
//! taking the readers' turn, reading entries out of the ring, reading a
//! socket message exactly (never a byte of the next one, which may be
//! another process's), settling torn and cancelled socket messages, and
//! sleeping on the socket.

use std::collections::VecDeque;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use mp_internal::robust_lock::Acquired;
use mp_internal::{Deadline, barrier, futex};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::fast_path::{
    DOORBELL, FRAME_HEAD, FRAME_TAG, FastPath, Front, IDLE_SLICE, LIVENESS_SLICE,
    SPIN_AFTER_WAKING, SPIN_FOR, drain_doorbells,
};
use crate::lane::{ENTRY_HEAD, Entry, Kind, Lane, SOCK_BUSY, SOCK_CANCELLED, SOCK_IDLE};
use crate::socket::Stream;

/// A socket message grows its buffer by at most this much ahead of the
/// bytes that arrived.
const GROW_STEP: usize = 64 * 1024;

/// A received message's bytes: borrowed from the receive buffer, or owned.
#[derive(Debug)]
pub(crate) enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Bytes<'_> {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(bytes) => bytes,
            Bytes::Owned(bytes) => bytes,
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Bytes::Borrowed(bytes) => bytes.to_vec(),
            Bytes::Owned(bytes) => bytes,
        }
    }
}

/// This handle's receive state (behind the handle's mutex).
#[derive(Debug, Default)]
pub(crate) struct Receiving {
    buf: Vec<u8>,
    /// A socket message being read. While there is one, this process
    /// holds the lane's readers' lock, across calls (a timeout keeps what
    /// arrived, and no other reader may read the rest).
    frame: Option<SocketFrame>,
}

impl Receiving {
    /// Whether a socket message is half read (this process then holds the
    /// readers' lock).
    pub(crate) fn in_frame(&self) -> bool {
        self.frame.is_some()
    }
}

#[derive(Debug)]
struct SocketFrame {
    /// Where its announcement was.
    at: u64,
    len: u64,
    /// Over this end's limit: read and dropped.
    skip: bool,
    head: [u8; FRAME_HEAD],
    head_got: usize,
    nfds: u32,
    data: Vec<u8>,
    got: u64,
    fds: VecDeque<OwnedFd>,
}

enum Step {
    /// The whole message arrived.
    Done,
    /// Its writer gave up before writing a byte of it.
    Cancelled,
}

impl FastPath {
    /// Receives one message and hands its bytes and descriptors to `f`.
    pub(crate) fn recv<R>(
        &self,
        sock: BorrowedFd<'_>,
        deadline: &Deadline,
        f: impl FnOnce(Bytes<'_>, Vec<OwnedFd>) -> R,
    ) -> Result<R> {
        let i = self.incoming.ok_or(Error::NotReadable)?;
        let lane = self.lane(i);
        let mut state = self.receiving.lock();
        if state.frame.is_none() {
            match lane.reader.0.lock.lock(deadline) {
                None => return Err(Error::Timeout),
                Some(Acquired::Clean) => {}
                Some(Acquired::OwnerDied) => {
                    if lane.reader.0.mid_frame.swap(0, Ordering::Relaxed) != 0 {
                        lane.reader.0.broken.store(1, Ordering::Relaxed);
                    }
                }
            }
        }
        let result = self.recv_locked(i, lane, &mut state, sock, deadline, f);
        if state.frame.is_none() {
            lane.reader.0.lock.unlock();
        }
        result
    }

    fn recv_locked<R>(
        &self,
        i: usize,
        lane: &Lane,
        state: &mut Receiving,
        sock: BorrowedFd<'_>,
        deadline: &Deadline,
        f: impl FnOnce(Bytes<'_>, Vec<OwnedFd>) -> R,
    ) -> Result<R> {
        let r = &lane.reader.0;
        if r.broken.load(Ordering::Relaxed) != 0 {
            return Err(Error::Corrupt(
                "a receiver of this end died or was dropped in the middle of a large message; \
                 the rest of it cannot be told from the next"
                    .into(),
            ));
        }
        loop {
            if let Some(frame) = &mut state.frame {
                let step = self.read_frame(lane, frame, sock, deadline);
                if matches!(step, Err(Error::Timeout)) {
                    // Kept, with the readers' lock, for the next call.
                    return Err(Error::Timeout);
                }
                let frame = state.frame.take().expect("checked above");
                r.mid_frame.store(0, Ordering::Relaxed);
                match &step {
                    Err(Error::Corrupt(_)) => r.broken.store(1, Ordering::Relaxed),
                    Err(Error::Truncated) => self.mark_peer_gone(),
                    _ => {}
                }
                match step? {
                    Step::Cancelled => continue,
                    Step::Done if frame.skip => {
                        return Err(Error::MessageTooLarge {
                            len: frame.len,
                            limit: self.limit(i),
                        });
                    }
                    Step::Done => {
                        return Ok(f(Bytes::Owned(frame.data), frame.fds.into()));
                    }
                }
            }
            let head = r.head.load(Ordering::Relaxed);
            let mut tail = lane.tail.0.load(Ordering::Acquire);
            if tail == head {
                let arrived = self.wait_for_entry(lane, sock, head, deadline)?;
                tail = lane.tail.0.load(Ordering::Acquire);
                if !arrived && tail == head {
                    self.mark_peer_gone();
                    return Err(Error::Eof);
                }
            }
            let available = tail.wrapping_sub(head);
            let capacity = self.segment.capacity() as u64;
            let mut bytes = [0u8; ENTRY_HEAD];
            let entry = if available <= capacity && head % 8 == 0 {
                self.segment.read(i, head, &mut bytes);
                Entry::decode(bytes, available)
            } else {
                None
            };
            let Some(entry) = entry else {
                r.broken.store(1, Ordering::Relaxed);
                return Err(Error::Corrupt(format!(
                    "the shared ring holds bytes no sender writes (at {head}, {available} \
                     bytes published)"
                )));
            };
            let body = head + ENTRY_HEAD as u64;
            let next = head + entry.footprint();
            match entry.kind {
                Kind::Data => {
                    let len = entry.len as usize;
                    let limit = self.limit(i);
                    if len as u64 > limit {
                        self.release(lane, next);
                        return Err(Error::MessageTooLarge {
                            len: len as u64,
                            limit,
                        });
                    }
                    if state.buf.len() < len {
                        state.buf.resize(len, 0);
                    }
                    self.segment.read(i, body, &mut state.buf[..len]);
                    self.release(lane, next);
                    return Ok(f(Bytes::Borrowed(&state.buf[..len]), Vec::new()));
                }
                Kind::Socket => {
                    let mut len = [0u8; 8];
                    self.segment.read(i, body, &mut len);
                    let len = u64::from_le_bytes(len);
                    r.mid_frame.store(1, Ordering::Relaxed);
                    self.release(lane, next);
                    state.frame = Some(SocketFrame {
                        at: head,
                        len,
                        skip: len > self.limit(i),
                        head: [0; FRAME_HEAD],
                        head_got: 0,
                        nfds: 0,
                        data: Vec::new(),
                        got: 0,
                        fds: VecDeque::new(),
                    });
                }
            }
        }
    }

    /// Releases ring bytes up to `head` and wakes a writer waiting for room.
    #[inline]
    fn release(&self, lane: &Lane, head: u64) {
        lane.reader.0.head.store(head, Ordering::Release);
        barrier::light();
        if lane.space.0.load(Ordering::Relaxed) != 0 {
            lane.space.0.store(0, Ordering::Relaxed);
            futex::wake_all(&lane.space.0);
        }
    }

    /// Waits until an entry is published after `head`: true when one is,
    /// false at end of file (the caller looks at the ring once more).
    fn wait_for_entry(
        &self,
        lane: &Lane,
        sock: BorrowedFd<'_>,
        head: u64,
        deadline: &Deadline,
    ) -> Result<bool> {
        let arrived = || lane.tail.0.load(Ordering::Acquire) != head;
        let spin_for = if self.rang.swap(false, Ordering::Relaxed) {
            SPIN_AFTER_WAKING
        } else {
            SPIN_FOR
        };
        let spin = deadline
            .remaining()
            .map_or(spin_for, |left| left.min(spin_for));
        if !spin.is_zero() && mp_internal::spin::until_answer(spin, arrived) {
            return Ok(true);
        }
        loop {
            lane.sleepers.0.fetch_add(1, Ordering::SeqCst);
            let slice = if barrier::heavy() {
                IDLE_SLICE
            } else {
                barrier::FALLBACK_SLICE
            };
            let readable = if arrived() {
                None
            } else {
                let left = deadline.remaining().map_or(slice, |left| left.min(slice));
                // A zero wait still looks once: end of file is news.
                Some(poll_in(sock, left)?)
            };
            let _ = lane
                .sleepers
                .0
                .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| n.checked_sub(1));
            match readable {
                None => return Ok(true),
                Some(true) => match drain_doorbells(sock)? {
                    Front::Eof => return Ok(false),
                    Front::Message if !arrived() => {
                        return Err(Error::Corrupt(
                            "a message on the socket that the shared ring never announced".into(),
                        ));
                    }
                    _ => {}
                },
                Some(false) => {}
            }
            if arrived() {
                return Ok(true);
            }
            if deadline.passed() {
                return Err(Error::Timeout);
            }
        }
    }

    /// Reads the socket message announced in `frame`, exactly.
    fn read_frame(
        &self,
        lane: &Lane,
        frame: &mut SocketFrame,
        sock: BorrowedFd<'_>,
        deadline: &Deadline,
    ) -> Result<Step> {
        loop {
            if read_some(frame, sock)? {
                return Ok(Step::Done);
            }
            // Drained: is the rest still coming?
            let w = &lane.writer.0;
            let at_ours = w.sock_marker.load(Ordering::Relaxed) == frame.at;
            match w.sock.load(Ordering::Acquire) {
                SOCK_CANCELLED if at_ours && frame.head_got == 0 => {
                    w.sock.store(SOCK_IDLE, Ordering::Release);
                    futex::wake_all(&w.sock);
                    return Ok(Step::Cancelled);
                }
                SOCK_BUSY if at_ours => {
                    if let Some(step) = settle_if_torn(lane, frame, sock)? {
                        return Ok(step);
                    }
                }
                _ => {}
            }
            let left = deadline
                .remaining()
                .map_or(LIVENESS_SLICE, |left| left.min(LIVENESS_SLICE));
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            poll_in(sock, left)?;
        }
    }
}

/// A socket message's writer no longer holds the writers' lock while the
/// message is unfinished and the socket drained: it died or gave up
/// partway. Holding that lock (so nothing more arrives), reads what is
/// left; then the message is done, or torn.
fn settle_if_torn(
    lane: &Lane,
    frame: &mut SocketFrame,
    sock: BorrowedFd<'_>,
) -> Result<Option<Step>> {
    let w = &lane.writer.0;
    if w.lock.try_lock().is_none() {
        return Ok(None);
    }
    let outcome = (|| {
        if read_some(frame, sock)? {
            return Ok(Some(Step::Done));
        }
        if w.sock.load(Ordering::Acquire) != SOCK_BUSY {
            return Ok(None);
        }
        w.sock.store(SOCK_IDLE, Ordering::Release);
        futex::wake_all(&w.sock);
        Err(Error::Torn)
    })();
    w.lock.unlock();
    outcome
}

/// Reads what the socket holds of `frame` without waiting; true once the
/// whole message (and its descriptors) arrived.
fn read_some(frame: &mut SocketFrame, sock: BorrowedFd<'_>) -> Result<bool> {
    let stream = Stream::Plain {
        fd: sock,
        handles: true,
    };
    let now = Deadline::after(Duration::ZERO);
    loop {
        if frame.head_got < FRAME_HEAD {
            let n = match stream.recv_some(&mut frame.head[frame.head_got..], &mut frame.fds, &now)
            {
                Err(Error::Timeout) => return Ok(false),
                Err(Error::Io(e)) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => 0,
                other => other?,
            };
            if n == 0 {
                return Err(Error::Truncated);
            }
            let new = frame.head_got..frame.head_got + n;
            // Doorbells before the message are skipped.
            let bells = if frame.head_got == 0 {
                frame.head[new.clone()]
                    .iter()
                    .take_while(|&&b| b == DOORBELL)
                    .count()
            } else {
                0
            };
            frame
                .head
                .copy_within(new.start + bells..new.end, new.start);
            frame.head_got += n - bells;
            if frame.head_got == FRAME_HEAD {
                let len = u64::from_le_bytes(frame.head[1..9].try_into().expect("8 bytes"));
                frame.nfds = u32::from_le_bytes(frame.head[9..].try_into().expect("4 bytes"));
                if frame.head[0] != FRAME_TAG || len != frame.len {
                    return Err(Error::Corrupt(format!(
                        "a message on the socket does not match its announcement \
                         (tag {:#04x}, {len} bytes where {} were announced)",
                        frame.head[0], frame.len
                    )));
                }
            }
            continue;
        }
        if frame.got == frame.len {
            if (frame.fds.len() as u64) < u64::from(frame.nfds) {
                return Err(Error::Protocol(format!(
                    "message announced {} descriptors but {} arrived",
                    frame.nfds,
                    frame.fds.len()
                )));
            }
            if frame.skip {
                frame.fds.clear();
            }
            return Ok(true);
        }
        let left = frame.len - frame.got;
        let mut scratch = [0u8; 4096];
        let window: &mut [u8] = if frame.skip {
            let take = left.min(scratch.len() as u64) as usize;
            &mut scratch[..take]
        } else {
            let got = frame.got as usize;
            if frame.data.len() == got {
                // Memory follows the bytes that arrived.
                let step = got.clamp(GROW_STEP, usize::MAX / 2);
                let target = (got as u64 + left.min(step as u64)) as usize;
                frame.data.try_reserve_exact(target - got).map_err(|_| {
                    Error::Corrupt(format!(
                        "cannot allocate memory for an announced message of {} bytes",
                        frame.len
                    ))
                })?;
                frame.data.resize(target, 0);
            }
            &mut frame.data[got..]
        };
        let n = match stream.recv_some(window, &mut frame.fds, &now) {
            Err(Error::Timeout) => return Ok(false),
            Err(Error::Io(e)) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => 0,
            other => other?,
        };
        if n == 0 {
            return Err(Error::Truncated);
        }
        frame.got += n as u64;
    }
}

/// Sleeps until `sock` is readable (or hung up), at most `left`.
pub(crate) fn poll_in(sock: BorrowedFd<'_>, left: Duration) -> Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(sock, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
