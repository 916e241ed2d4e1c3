//! A listener's acceptor: accepts peers and drives all their handshakes at
//! once, message by message, so that no number of silent, slow or
//! garbage-sending peers delays one that authenticates.
//!
//! It has no thread of its own: whoever waits in `accept` drives it (one
//! caller at a time; the others wait for a finished connection), so a
//! listener adds no thread to its process and stays safe in a process that
//! forks (mp's forkserver is one). The handshakes advance while someone
//! waits in `accept`, as Python's do.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mp_internal::Deadline;
use parking_lot::Mutex;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{EventfdFlags, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::SocketFlags;

use crate::address::Address;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::frame::Framing;
use crate::handshake::{Handshake, HandshakeSide, Status, in_handshake};
use crate::poll::poll_one;

/// Peers accepted from the kernel per wake-up, so that a flood of new
/// connections cannot starve the handshakes in progress.
const ACCEPT_BATCH: usize = 1024;

/// Events taken from epoll per wake-up.
const EVENTS: usize = 64;

/// How often a caller of `accept` that is not driving checks whether it
/// should take over (the driver may have left with its connection).
const TAKE_OVER: Duration = Duration::from_millis(5);

/// The epoll keys of the listening socket and of the ready count; pending
/// peers use their sequence numbers.
const LISTENER: u64 = u64::MAX;
const READY: u64 = u64::MAX - 1;

/// What the acceptor needs to know.
pub(crate) struct Settings {
    pub(crate) handshake: Arc<dyn Handshake>,
    pub(crate) max_message_size: u64,
    pub(crate) framing: Framing,
    pub(crate) unix: bool,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_pending: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsServer>,
}

/// Counters of a [`Listener`](crate::Listener), readable from any thread
/// (see [`Listener::stats`](crate::Listener::stats)).
#[derive(Debug, Clone, Default)]
pub struct ListenerStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
}

impl ListenerStats {
    /// Peers that completed the handshake.
    pub fn accepted(&self) -> u64 {
        self.0.accepted.load(Ordering::Relaxed)
    }

    /// Peers refused by the handshake: a wrong or missing authkey, a peer
    /// that does not speak the handshake (or TLS when the listener does).
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }

    /// Peers dropped before they finished the handshake for any other
    /// reason: past the handshake timeout, pushed out by newer peers when
    /// too many were pending, or a broken socket.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    fn count(&self, counter: fn(&Counters) -> &AtomicU64) {
        counter(&self.0).fetch_add(1, Ordering::Relaxed);
    }
}

/// What every caller of `accept` shares.
struct Shared {
    /// Connections that passed the handshake, oldest first.
    ready: Mutex<VecDeque<(Connection, Option<Address>)>>,
    /// An eventfd in semaphore mode counting `ready`: readable while it
    /// holds a connection, and each read claims one.
    count: OwnedFd,
    /// Watches the listening socket, the pending peers and `count`: readable
    /// while `accept` has something to do (the listener's `wait` descriptor).
    epoll: OwnedFd,
    stats: ListenerStats,
}

pub(crate) struct Acceptor {
    shared: Shared,
    driver: Mutex<Driver>,
}

impl Acceptor {
    pub(crate) fn new(listener: OwnedFd, settings: Settings) -> Result<Acceptor> {
        let semaphore = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK | EventfdFlags::SEMAPHORE;
        let shared = Shared {
            ready: Mutex::new(VecDeque::new()),
            count: rustix::event::eventfd(0, semaphore)?,
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            stats: ListenerStats::default(),
        };
        let watch = |fd: BorrowedFd<'_>, key| {
            epoll::add(&shared.epoll, fd, EventData::new_u64(key), EventFlags::IN)
        };
        watch(listener.as_fd(), LISTENER)?;
        watch(shared.count.as_fd(), READY)?;
        mp_internal::tracked::track(listener.as_fd());
        Ok(Acceptor {
            shared,
            driver: Mutex::new(Driver {
                listener: TrackedFd(listener),
                settings,
                pending: BTreeMap::new(),
                next_key: 0,
                send: Vec::new(),
            }),
        })
    }

    /// Takes the next connection that passed the handshake, driving the
    /// handshakes until one does or `deadline` passes.
    pub(crate) fn accept(&self, deadline: &Deadline) -> Result<(Connection, Option<Address>)> {
        loop {
            if let Some(accepted) = self.claim()? {
                return Ok(accepted);
            }
            if deadline.passed() {
                return Err(Error::Timeout);
            }
            match self.driver.try_lock() {
                Some(mut driver) => driver.turn(&self.shared, deadline),
                // Another caller drives: wait for what it finishes.
                None => {
                    poll_one(
                        self.shared.count.as_fd(),
                        PollFlags::IN,
                        &deadline.min(&Deadline::after(TAKE_OVER)),
                    )?;
                }
            }
        }
    }

    /// Claims a finished connection, if there is one.
    fn claim(&self) -> Result<Option<(Connection, Option<Address>)>> {
        let mut count = [0u8; 8];
        loop {
            return match rustix::io::read(&self.shared.count, &mut count) {
                Ok(_) => {
                    let next = self.shared.ready.lock().pop_front();
                    Ok(Some(next.expect("the count never exceeds the queue")))
                }
                Err(Errno::AGAIN) => Ok(None),
                Err(Errno::INTR) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }

    /// Closes every descriptor and leaks the memory (`Listener::abandon`).
    pub(crate) fn abandon(self) {
        let Acceptor { shared, driver } = self;
        let Shared {
            ready,
            count,
            epoll,
            stats,
        } = shared;
        drop((count, epoll));
        let mut ready = ready.into_inner();
        for (conn, _) in ready.iter_mut() {
            conn.release_fd();
        }
        std::mem::forget((ready, stats));
        let Driver {
            listener,
            settings,
            mut pending,
            send,
            ..
        } = driver.into_inner();
        drop(listener);
        for waiting in pending.values_mut() {
            waiting.conn.release_fd();
        }
        std::mem::forget((settings, pending, send));
    }

    /// Readable while `accept` has something to do.
    pub(crate) fn wait_fd(&self) -> BorrowedFd<'_> {
        self.shared.epoll.as_fd()
    }

    pub(crate) fn stats(&self) -> &ListenerStats {
        &self.shared.stats
    }
}

/// A peer in the middle of its handshake.
struct Pending {
    conn: Connection,
    side: Box<dyn HandshakeSide>,
    peer: Option<Address>,
    deadline: Instant,
}

/// The handshakes in progress; one caller of `accept` at a time drives them.
struct Driver {
    listener: TrackedFd,
    settings: Settings,
    /// By key, which grows with age: the first is the oldest.
    pending: BTreeMap<u64, Pending>,
    next_key: u64,
    send: Vec<Vec<u8>>,
}

/// The listening socket, registered with `mp_internal::tracked` (so a
/// forked child lets go of it) until it closes.
struct TrackedFd(OwnedFd);

impl AsFd for TrackedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Drop for TrackedFd {
    fn drop(&mut self) {
        mp_internal::tracked::untrack(self.0.as_fd());
    }
}

impl Driver {
    /// Waits for something to do (until `deadline` or the oldest pending
    /// peer's deadline) and does it.
    fn turn(&mut self, shared: &Shared, deadline: &Deadline) {
        let mut wake = deadline.clone();
        if let Some((_, oldest)) = self.pending.first_key_value() {
            wake = wake.min(&Deadline::at(oldest.deadline));
        }
        let timeout = wake.remaining().map(|left| Timespec {
            tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        });
        let mut events = Vec::with_capacity(EVENTS);
        match epoll::wait(
            &shared.epoll,
            rustix::buffer::spare_capacity(&mut events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => {}
            // Out of memory in the kernel: the caller tries again.
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
        for key in events.iter().map(|e| e.data.u64()) {
            match key {
                LISTENER => self.accept_batch(shared),
                READY => {}
                key => self.on_readable(shared, key),
            }
        }
        self.expire(shared);
    }

    fn accept_batch(&mut self, shared: &Shared) {
        for _ in 0..ACCEPT_BATCH {
            let (fd, peer) =
                match rustix::net::acceptfrom_with(&self.listener, SocketFlags::CLOEXEC) {
                    Ok(accepted) => accepted,
                    Err(Errno::INTR | Errno::CONNABORTED) => continue,
                    // Nothing more (AGAIN), or out of descriptors: the peers wait
                    // in the backlog until the next turn.
                    Err(_) => return,
                };
            if self
                .start(shared, fd, peer.and_then(Address::from_any))
                .is_err()
            {
                shared.stats.count(|c| &c.dropped);
            }
        }
    }

    fn start(&mut self, shared: &Shared, fd: OwnedFd, peer: Option<Address>) -> Result<()> {
        if !self.settings.unix {
            // A failure only costs latency.
            let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
        }
        #[allow(unused_mut, reason = "changed only with TLS")]
        let mut conn = Connection::new(fd, true, true, self.settings.unix, self.settings.framing);
        conn.set_max_message_size(self.settings.max_message_size);
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.settings.tls {
            conn.set_tls(tls.session()?);
        }
        while self.pending.len() >= self.settings.max_pending.max(1) {
            // Full: the oldest pending peer makes room.
            let (_, oldest) = self.pending.pop_first().expect("not empty");
            self.remove(shared, oldest, |c| &c.dropped);
        }
        let key = self.next_key;
        self.next_key += 1;
        epoll::add(
            &shared.epoll,
            &conn,
            EventData::new_u64(key),
            EventFlags::IN,
        )?;
        let side = self
            .settings
            .handshake
            .server(self.settings.max_message_size);
        let deadline = Instant::now() + self.settings.handshake_timeout;
        self.pending.insert(
            key,
            Pending {
                conn,
                side,
                peer,
                deadline,
            },
        );
        if self.advance(shared, key, None) {
            // The peer may have spoken already (its first message crosses ours).
            self.on_readable(shared, key);
        }
        Ok(())
    }

    /// Reads what pending peer `key` sent, message by message, as far as
    /// it goes without waiting.
    fn on_readable(&mut self, shared: &Shared, key: u64) {
        let now = Deadline::after(Duration::ZERO);
        loop {
            let Some(p) = self.pending.get_mut(&key) else {
                return;
            };
            match p.conn.recv_handshake(p.side.max_message_size(), &now) {
                Ok(message) => {
                    if !self.advance(shared, key, Some(&message)) {
                        return;
                    }
                }
                Err(Error::Timeout) => return,
                Err(e) => {
                    let p = self.pending.remove(&key).expect("looked up above");
                    let e = in_handshake(&p.conn, e);
                    self.fail(shared, p, &e);
                    return;
                }
            }
        }
    }

    /// Feeds one message (or the start) to pending peer `key`'s handshake
    /// and sends what it answers; false once the peer left the pending set.
    fn advance(&mut self, shared: &Shared, key: u64, received: Option<&[u8]>) -> bool {
        let p = self.pending.get_mut(&key).expect("a pending peer");
        let mut status = p.side.step(received, &mut self.send);
        // A handshake message is small and the socket new: if it does not
        // fit at once, the peer is not reading.
        let now = Deadline::after(Duration::ZERO);
        for message in self.send.drain(..) {
            if let Err(e) = p.conn.send_handshake(&message, &now) {
                // A peer that hung up after sending may have sent all it
                // needed (a client without a key sends its hello and may
                // leave before `accept`): read on, as Python's listener
                // does; a handshake that needs more sees end of file.
                if status.is_ok() && !hung_up(&e) {
                    status = Err(in_handshake(&p.conn, e));
                }
                break;
            }
        }
        match status {
            Ok(Status::Continue) => true,
            Ok(status @ (Status::Done(_) | Status::Handover)) => {
                let mut p = self.pending.remove(&key).expect("looked up above");
                match status {
                    Status::Done(outcome) => p
                        .conn
                        .set_peer_max_message_size(outcome.peer_max_message_size),
                    _ => p.conn.defer_handshake(p.side),
                }
                let _ = epoll::delete(&shared.epoll, &p.conn);
                shared.ready.lock().push_back((p.conn, p.peer));
                // Cannot fail: the counter is far from overflowing.
                let _ = rustix::io::write(&shared.count, &1u64.to_ne_bytes());
                shared.stats.count(|c| &c.accepted);
                false
            }
            Err(e) => {
                let p = self.pending.remove(&key).expect("looked up above");
                self.fail(shared, p, &e);
                false
            }
        }
    }

    fn fail(&mut self, shared: &Shared, p: Pending, e: &Error) {
        #[cfg(feature = "tls")]
        if matches!(e, Error::Tls(_)) && self.settings.tls.is_some() {
            // A plain client waits for the handshake in plain framing: tell it.
            p.conn.send_plain(crate::auth::TLS_REQUIRED);
        }
        match e {
            Error::Authentication(_) | Error::Tls(_) => self.remove(shared, p, |c| &c.refused),
            _ => self.remove(shared, p, |c| &c.dropped),
        }
    }

    /// Lets go of a pending peer (closing its connection), counting it.
    fn remove(&self, shared: &Shared, p: Pending, counter: fn(&Counters) -> &AtomicU64) {
        let _ = epoll::delete(&shared.epoll, &p.conn);
        shared.stats.count(counter);
    }

    /// Drops the peers whose handshake ran past its deadline.
    fn expire(&mut self, shared: &Shared) {
        let now = Instant::now();
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().deadline > now {
                break;
            }
            let p = entry.remove();
            self.remove(shared, p, |c| &c.dropped);
        }
    }
}

/// Whether a send failed because the peer closed its end.
fn hung_up(e: &Error) -> bool {
    let hung_up = [Errno::PIPE, Errno::CONNRESET].map(|e| Some(e.raw_os_error()));
    matches!(e, Error::Io(e) if hung_up.contains(&e.raw_os_error()))
}
