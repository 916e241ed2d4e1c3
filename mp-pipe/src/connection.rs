//! `Connection`: one end of a pipe or socket.

use std::cell::Cell;
use std::fmt;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rustix::event::PollFlags;
use serde::Serialize;
use serde::de::DeserializeOwned;

use mp_internal::Deadline;

use crate::deferred::Deferred;
use crate::error::{Error, Result};
use crate::fast_path::{FastPath, RING_MESSAGE_MAX};
use crate::fast_recv::Bytes;
use crate::frame::{Framing, Header, MAX_HEADER_LEN};
use crate::poll::poll_one;
use crate::reader::{Payload, Reader};
use crate::socket::Stream;

/// A send buffer that grew past this is released after the send.
const KEEP_SEND_BUF: usize = 1 << 20;

thread_local! {
    /// Where this thread encodes values sent on the fast path.
    static SEND_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// One end of a [`pipe`](crate::pipe), or a connection made by a [`Listener`](crate::Listener)
/// or [`Client`](crate::Client) (Python's `multiprocessing.connection.Connection`).
///
/// Messages are framed: each `send` arrives as exactly one `recv`, empty
/// messages included. Values travel as serde data (postcard); values that
/// hold OS handles (another `Connection`, a shared `Value`, ...) carry them
/// across with `SCM_RIGHTS` on Unix sockets.
///
/// A `Connection` is `Send + Sync`: sends from several threads never
/// interleave, and neither do receives. It can be an argument of a child
/// process under every start method.
///
/// The ends of a [`pipe`](crate::pipe) also share memory: small messages without OS
/// handles go through a ring in it (a hand-off of well under a
/// microsecond between two busy processes), everything else through the
/// socket, in the order sent. There, any number of processes may send on
/// (and receive from) copies of one end, under every start method: every
/// message arrives whole (see the crate docs for what a sender's or
/// receiver's death does).
///
/// # Example
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
#[doc = concat!("let (a, b) = ", crate::mp_crate!(pipe), "::pipe()?;")]
/// a.send(&("hello", 42u32))?;
/// let (word, n): (String, u32) = b.recv()?;
/// assert_eq!((word.as_str(), n), ("hello", 42));
/// # Ok(())
/// # }
/// ```
pub struct Connection {
    fd: Option<OwnedFd>,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// Unix sockets carry descriptors; TCP does not.
    pub(crate) unix: bool,
    pub(crate) framing: Framing,
    /// This end's limit on incoming messages. For the ends of a pipe it is
    /// also the other end's `peer_limit` (with a fast path, the limits live
    /// in the shared memory instead).
    pub(crate) limit: Arc<AtomicU64>,
    /// The peer's limit on incoming messages, when known (`u64::MAX` when
    /// not): a larger send is refused before anything is written.
    pub(crate) peer_limit: Arc<AtomicU64>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<crate::tls::Session>>,
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
    /// A pipe's shared memory (see `fast_path`).
    pub(crate) fast: Option<FastPath>,
    /// The rest of a handshake that handed the connection over early.
    pub(crate) deferred: Option<Arc<Deferred>>,
}

impl Connection {
    pub(crate) fn new(
        fd: OwnedFd,
        readable: bool,
        writable: bool,
        unix: bool,
        framing: Framing,
    ) -> Connection {
        Connection::with_limits(
            fd,
            (readable, writable, unix, framing),
            Arc::new(AtomicU64::new(u64::MAX)),
            Arc::new(AtomicU64::new(u64::MAX)),
        )
    }

    pub(crate) fn with_limits(
        fd: OwnedFd,
        (readable, writable, unix, framing): (bool, bool, bool, Framing),
        limit: Arc<AtomicU64>,
        peer_limit: Arc<AtomicU64>,
    ) -> Connection {
        mp_internal::tracked::track(fd.as_fd());
        Connection {
            fd: Some(fd),
            readable,
            writable,
            unix,
            framing,
            limit,
            peer_limit,
            #[cfg(feature = "tls")]
            tls: None,
            reader: Mutex::new(Reader::new(framing)),
            writer: Mutex::new(Writer {
                buf: Vec::new(),
                torn: false,
            }),
            fast: None,
            deferred: None,
        }
    }

    /// The two ends of a socketpair: each end's limit is the other's peer
    /// limit, so a send the other end would refuse fails at once.
    pub(crate) fn pair(
        a: OwnedFd,
        b: OwnedFd,
        a_reads: bool,
        a_writes: bool,
    ) -> (Connection, Connection) {
        let a_limit = Arc::new(AtomicU64::new(u64::MAX));
        let b_limit = Arc::new(AtomicU64::new(u64::MAX));
        let settings = |readable, writable| (readable, writable, true, Framing::Mp);
        (
            Connection::with_limits(
                a,
                settings(a_reads, a_writes),
                a_limit.clone(),
                b_limit.clone(),
            ),
            Connection::with_limits(b, settings(a_writes, a_reads), b_limit, a_limit),
        )
    }

    /// This connection with another framing (see [`Framing`]), for a
    /// connection made from a stream (`Connection::from(stream)`); call it
    /// before the first message.
    pub fn with_framing(mut self, framing: Framing) -> Connection {
        self.framing = framing;
        *self.reader.get_mut() = Reader::new(framing);
        self
    }

    /// The framing of this connection.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    #[cfg(feature = "tls")]
    pub(crate) fn set_tls(&mut self, session: crate::tls::Session) {
        self.tls = Some(Arc::new(session));
    }

    /// Sends a value (Python's `send`). Blocks while the peer's buffer is full.
    ///
    /// A value that fails to serialize is an [`Error::Encode`] and nothing is
    /// sent.
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_value(value, &Deadline::never())
    }

    /// Like [`send`](Connection::send), giving up after `timeout`.
    ///
    /// [`Error::Timeout`] means nothing was written. If the time runs out
    /// after part of the message went out, the error is [`Error::Torn`] and
    /// this end refuses further sends (the peer will see a truncated message).
    pub fn send_timeout<T: Serialize + ?Sized>(&self, value: &T, timeout: Duration) -> Result<()> {
        self.send_value(value, &Deadline::after(timeout))
    }

    /// Sends raw bytes as one message (Python's `send_bytes`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.send_raw(bytes, &Deadline::never())
    }

    /// Like [`send_bytes`](Connection::send_bytes), giving up after `timeout`
    /// (see [`send_timeout`](Connection::send_timeout)).
    pub fn send_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        self.send_raw(bytes, &Deadline::after(timeout))
    }

    /// Receives a value (Python's `recv`). Blocks until a message arrives.
    ///
    /// [`Error::Eof`] once the peer has closed and everything it sent has
    /// been received. A message that does not decode as `T` is consumed and
    /// reported as [`Error::Decode`]; the connection stays usable.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        self.recv_value(&Deadline::never())
    }

    /// Like [`recv`](Connection::recv), giving up with [`Error::Timeout`]
    /// after `timeout`. A timeout loses nothing: part of a message that
    /// already arrived is kept for the next call.
    pub fn recv_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        self.recv_value(&Deadline::after(timeout))
    }

    /// Receives one message as raw bytes (Python's `recv_bytes`).
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.recv_raw(&Deadline::never())
    }

    /// Like [`recv_bytes`](Connection::recv_bytes), giving up after `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.recv_raw(&Deadline::after(timeout))
    }

    /// Receives one message into `buf` and returns its length (Python's
    /// `recv_bytes_into`).
    ///
    /// If the message is longer than `buf`, the error
    /// [`Error::BufferTooShort`] carries the whole message.
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
        self.recv_into(buf, &Deadline::never())
    }

    /// Like [`recv_bytes_into`](Connection::recv_bytes_into), giving up with
    /// [`Error::Timeout`] after `timeout` (which loses nothing, as with
    /// [`recv_timeout`](Connection::recv_timeout)).
    pub fn recv_bytes_into_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_into(buf, &Deadline::after(timeout))
    }

    fn recv_into(&self, buf: &mut [u8], deadline: &Deadline) -> Result<usize> {
        self.with_message(deadline, |bytes, _fds| {
            let bytes = bytes.as_slice();
            if bytes.len() > buf.len() {
                return Err(Error::BufferTooShort(bytes.to_vec()));
            }
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        })?
    }

    /// Returns whether a message (or end of file) can be received without
    /// blocking, waiting up to `timeout` for one (Python's `poll`).
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        let fd = self.read_fd()?;
        let deadline = Deadline::after(timeout);
        if let Some(fast) = &self.fast {
            return fast.poll(fd, &deadline);
        }
        if let Some(deferred) = &self.deferred {
            match deferred.finish(self, &deadline) {
                Err(Error::Timeout) => return Ok(false),
                // The receive reports it.
                Err(_) => return Ok(true),
                Ok(()) => {}
            }
        }
        if self.has_buffered_message() {
            return Ok(true);
        }
        Ok(poll_one(fd, PollFlags::IN, &deadline)?)
    }

    /// Closes this end (Python's `close`). The peer sees end of file once it
    /// has received what was sent. Every later call on this end fails with
    /// [`Error::Closed`]; closing twice is fine.
    pub fn close(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(fd) = &self.fd {
            if let Some(tls) = self.tls.take() {
                if Arc::strong_count(&tls) == 1 {
                    tls.close_notify(fd.as_fd());
                }
            }
        }
        self.release_fd();
        self.fast = None;
        *self.reader.get_mut() = Reader::new(self.framing);
    }

    /// Closes this end's socket and leaks the rest instead of freeing it:
    /// for a forked child letting go of a connection it copied from its
    /// parent. Freeing writes to the heap pages the copy sits on, and a
    /// forked child's first write to a page copies it; a new child that
    /// frees its parent's objects pays page copies for memory it never
    /// reuses. The peer sees what [`close`](Connection::close) shows it,
    /// but no TLS `close_notify` is sent (the parent's session goes on).
    /// The memory stays allocated, shared with the parent, until this
    /// process exits; so does a pipe's shared ring, left as the parent's
    /// copy has it (dropping it would let go of the readers' lock, in the
    /// memory both processes share, if another thread of the parent was
    /// reading a message at the fork).
    pub fn abandon(mut self) {
        self.release_fd();
        std::mem::forget(self);
    }

    /// Closes the socket, leaving the rest as it is.
    pub(crate) fn release_fd(&mut self) {
        if let Some(fd) = self.fd.take() {
            mp_internal::tracked::untrack(fd.as_fd());
        }
    }

    /// Whether [`close`](Connection::close) was called.
    pub fn closed(&self) -> bool {
        self.fd.is_none()
    }

    /// Whether this end can receive.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The underlying descriptor (Python's `fileno`).
    pub fn fileno(&self) -> Result<RawFd> {
        Ok(self.fd()?.as_raw_fd())
    }

    /// Limits the size of incoming messages. A larger message is skipped
    /// with [`Error::MessageTooLarge`], and the next receive returns the
    /// message after it. Pipes start unlimited; connections from a
    /// [`Listener`](crate::Listener) or [`Client`](crate::Client) start at
    /// their configured limit.
    ///
    /// The other end of a [`pipe`](crate::pipe) knows this limit at once: a send it
    /// cannot deliver fails there with [`Error::MessageTooLarge`] before a
    /// byte is written (a socket peer learns the limit during the
    /// handshake; see [`peer_max_message_size`](Connection::peer_max_message_size)).
    pub fn set_max_message_size(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Relaxed);
        if let Some((fast, lane)) = self.fast.as_ref().and_then(|f| Some((f, f.incoming?))) {
            fast.set_limit(lane, bytes);
        }
    }

    /// The current limit on incoming messages.
    pub fn max_message_size(&self) -> u64 {
        match self.fast.as_ref().and_then(|f| Some((f, f.incoming?))) {
            Some((fast, lane)) => fast.limit(lane),
            None => self.limit.load(Ordering::Relaxed),
        }
    }

    /// The peer's limit on the messages it receives, if known: the other
    /// end's limit for a [`pipe`](crate::pipe), the one the peer announced in the
    /// handshake for a [`Listener`](crate::Listener) or
    /// [`Client`](crate::Client) connection, `None` otherwise. A larger
    /// send fails with [`Error::MessageTooLarge`] and writes nothing.
    pub fn peer_max_message_size(&self) -> Option<u64> {
        // The answer of a deferred handshake may be here: it holds the limit.
        let _ = self.catch_up_handshake();
        Some(self.peer_limit()).filter(|&limit| limit != u64::MAX)
    }

    fn peer_limit(&self) -> u64 {
        match self.fast.as_ref().and_then(|f| Some((f, f.outgoing?))) {
            Some((fast, lane)) => fast.limit(lane),
            None => self.peer_limit.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_peer_max_message_size(&self, bytes: Option<u64>) {
        self.peer_limit
            .store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Leaves the rest of the handshake to the first receive.
    pub(crate) fn defer_handshake(&mut self, side: Box<dyn crate::HandshakeSide>) {
        self.deferred = Some(Arc::new(Deferred::new(side)));
    }

    /// A second handle on the same connection (a `dup` of the descriptor).
    ///
    /// On the ends of a [`pipe`](crate::pipe) the copies share everything: any number of
    /// them may send and receive at once. On other connections they share
    /// the stream, not their buffers: use one of them per direction, or
    /// messages may be split between them.
    pub fn try_clone(&self) -> Result<Connection> {
        let fd = rustix::io::fcntl_dupfd_cloexec(self.fd()?, 0)?;
        let settings = (self.readable, self.writable, self.unix, self.framing);
        #[allow(unused_mut, reason = "set only with TLS")]
        let mut conn =
            Connection::with_limits(fd, settings, self.limit.clone(), self.peer_limit.clone());
        #[cfg(feature = "tls")]
        {
            conn.tls = self.tls.clone();
        }
        conn.fast = self.fast.as_ref().map(FastPath::share);
        conn.deferred = self.deferred.clone();
        Ok(conn)
    }

    pub(crate) fn has_buffered_message(&self) -> bool {
        if let Some(fast) = &self.fast {
            return fast.ring_has_entry();
        }
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|tls| tls.has_plaintext()) {
            return true;
        }
        self.reader
            .try_lock()
            .is_some_and(|r| r.has_message(self.max_message_size()))
    }

    /// Receives one handshake message: at most `max` bytes (a larger one
    /// is an error), by `deadline`.
    pub(crate) fn recv_handshake(&self, max: u64, deadline: &Deadline) -> Result<Vec<u8>> {
        let stream = self.read_stream()?;
        let mut reader = self.reader.lock();
        let (payload, _fds) = reader.next_frame(stream, max, deadline)?;
        Ok(match payload {
            Payload::Owned(bytes) => bytes,
            Payload::Buffered(range) => reader.buf[range].to_vec(),
        })
    }

    /// Sends one handshake message by `deadline`.
    pub(crate) fn send_handshake(&self, bytes: &[u8], deadline: &Deadline) -> Result<()> {
        self.send_raw(bytes, deadline)
    }

    /// Before a send: takes the answer of a deferred handshake if it came
    /// (a refusal is the send's error).
    fn catch_up_handshake(&self) -> Result<()> {
        match &self.deferred {
            Some(deferred) => deferred.catch_up(self),
            None => Ok(()),
        }
    }

    /// Sends one message straight on the socket, past TLS, without
    /// waiting (to tell a plain peer of a TLS listener what is wrong).
    #[cfg(feature = "tls")]
    pub(crate) fn send_plain(&self, bytes: &[u8]) {
        let Ok(fd) = self.write_fd() else { return };
        let header = Header {
            len: bytes.len() as u64,
            nfds: 0,
        };
        let mut head = [0; MAX_HEADER_LEN];
        let start = self.framing.encode(header, &mut head);
        let stream = Stream::Plain { fd, handles: false };
        // Best effort: the connection is dropped right after.
        let _ = stream.send_all(
            &[&head[start..], bytes],
            &[],
            &Deadline::after(Duration::ZERO),
        );
    }

    fn stream<'a>(&'a self, fd: BorrowedFd<'a>) -> Stream<'a> {
        #[cfg(feature = "tls")]
        if let Some(session) = &self.tls {
            return Stream::Tls { fd, session };
        }
        Stream::Plain {
            fd,
            handles: self.carries_handles(),
        }
    }

    /// Whether OS handles can travel on this connection.
    fn carries_handles(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return false;
        }
        self.unix && self.framing.carries_handles()
    }

    fn read_stream(&self) -> Result<Stream<'_>> {
        Ok(self.stream(self.read_fd()?))
    }

    fn write_stream(&self) -> Result<Stream<'_>> {
        Ok(self.stream(self.write_fd()?))
    }

    /// Refuses a message the peer would refuse, before anything is written.
    #[inline]
    fn check_peer_limit(&self, len: usize) -> Result<()> {
        let limit = self.peer_limit();
        if len as u64 > limit {
            return Err(Error::MessageTooLarge {
                len: len as u64,
                limit,
            });
        }
        Ok(())
    }

    fn transport(&self) -> &'static str {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return "tls";
        }
        if self.unix { "unix" } else { "tcp" }
    }

    pub(crate) fn fd(&self) -> Result<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd()).ok_or(Error::Closed)
    }

    pub(crate) fn read_fd(&self) -> Result<BorrowedFd<'_>> {
        let fd = self.fd()?;
        if self.readable {
            Ok(fd)
        } else {
            Err(Error::NotReadable)
        }
    }

    fn write_fd(&self) -> Result<BorrowedFd<'_>> {
        let fd = self.fd()?;
        if self.writable {
            Ok(fd)
        } else {
            Err(Error::NotWritable)
        }
    }

    fn send_value<T: Serialize + ?Sized>(&self, value: &T, deadline: &Deadline) -> Result<()> {
        if let Some(fast) = &self.fast {
            return self.send_value_fast(fast, value, deadline);
        }
        let stream = self.write_stream()?;
        self.catch_up_handshake()?;
        let mut guard = self.writer.lock();
        let writer = &mut *guard;
        if writer.torn {
            return Err(Error::Torn);
        }
        writer.buf.clear();
        writer.buf.extend_from_slice(&[0; MAX_HEADER_LEN]);
        let fds = mp_handle::encode_into(value, &mut writer.buf).map_err(Error::Encode)?;
        if !fds.is_empty() && !self.carries_handles() {
            return Err(Error::HandlesNotSupported);
        }
        let len = writer.buf.len() - MAX_HEADER_LEN;
        let result = self.check_peer_limit(len).and_then(|()| {
            let header = Header {
                len: len as u64,
                nfds: fds.len() as u32,
            };
            let mut head = [0; MAX_HEADER_LEN];
            let start = self.framing.encode(header, &mut head);
            writer.buf[..MAX_HEADER_LEN].copy_from_slice(&head);
            writer.finish(stream.send_all(&[&writer.buf[start..]], &fds, deadline))
        });
        if writer.buf.capacity() > KEEP_SEND_BUF {
            writer.buf = Vec::new();
        }
        result
    }

    /// [`send_value`](Connection::send_value) on the shared-memory fast path:
    /// the value is encoded into a buffer of this thread's, so senders on
    /// several threads do not queue for one buffer (the ring orders them).
    fn send_value_fast<T: Serialize + ?Sized>(
        &self,
        fast: &FastPath,
        value: &T,
        deadline: &Deadline,
    ) -> Result<()> {
        let fd = self.write_fd()?;
        // A value whose `Serialize` sends on a connection itself finds the
        // buffer taken and uses a fresh one, as does a send from another
        // thread-local's destructor once this one is gone.
        let mut buf = SEND_BUF.try_with(Cell::take).unwrap_or_default();
        buf.clear();
        let result = mp_handle::encode_into(value, &mut buf)
            .map_err(Error::Encode)
            .and_then(|fds| {
                let len = buf.len();
                if !fds.is_empty() && !self.carries_handles() {
                    return Err(Error::HandlesNotSupported);
                }
                self.check_peer_limit(len)?;
                if fds.is_empty() && len <= RING_MESSAGE_MAX {
                    fast.send_in_ring(fd, &buf, deadline)
                } else {
                    fast.send_on_socket(fd, &[&buf], &fds, deadline)
                }
            });
        if buf.capacity() <= KEEP_SEND_BUF {
            let _ = SEND_BUF.try_with(|cell| cell.set(buf));
        }
        result
    }

    fn send_raw(&self, bytes: &[u8], deadline: &Deadline) -> Result<()> {
        if let Some(fast) = &self.fast {
            let fd = self.write_fd()?;
            self.check_peer_limit(bytes.len())?;
            return if bytes.len() <= RING_MESSAGE_MAX {
                fast.send_in_ring(fd, bytes, deadline)
            } else {
                fast.send_on_socket(fd, &[bytes], &[], deadline)
            };
        }
        let stream = self.write_stream()?;
        self.catch_up_handshake()?;
        let mut writer = self.writer.lock();
        if writer.torn {
            return Err(Error::Torn);
        }
        self.check_peer_limit(bytes.len())?;
        let header = Header {
            len: bytes.len() as u64,
            nfds: 0,
        };
        let mut head = [0; MAX_HEADER_LEN];
        let start = self.framing.encode(header, &mut head);
        let result = stream.send_all(&[&head[start..], bytes], &[], deadline);
        writer.finish(result)
    }

    fn recv_value<T: DeserializeOwned>(&self, deadline: &Deadline) -> Result<T> {
        self.with_message(deadline, |bytes, fds| {
            mp_handle::decode(bytes.as_slice(), fds).map_err(Error::Decode)
        })?
    }

    fn recv_raw(&self, deadline: &Deadline) -> Result<Vec<u8>> {
        self.with_message(deadline, |bytes, _fds| bytes.into_vec())
    }

    /// Receives one message and hands its bytes and descriptors to `f`.
    fn with_message<R>(
        &self,
        deadline: &Deadline,
        f: impl FnOnce(Bytes<'_>, Vec<OwnedFd>) -> R,
    ) -> Result<R> {
        let fd = self.read_fd()?;
        if let Some(fast) = &self.fast {
            return fast.recv(fd, deadline, f);
        }
        if let Some(deferred) = &self.deferred {
            deferred.finish(self, deadline)?;
        }
        let stream = self.stream(fd);
        let mut reader = self.reader.lock();
        let (payload, fds) = reader.next_frame(stream, self.max_message_size(), deadline)?;
        Ok(match payload {
            Payload::Owned(bytes) => f(Bytes::Owned(bytes), fds),
            Payload::Buffered(range) => f(Bytes::Borrowed(&reader.buf[range]), fds),
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

impl From<UnixStream> for Connection {
    /// A duplex connection over a connected Unix stream socket (which must
    /// be in blocking mode).
    fn from(stream: UnixStream) -> Connection {
        Connection::new(stream.into(), true, true, true, Framing::Mp)
    }
}

impl From<TcpStream> for Connection {
    /// A duplex connection over a connected TCP stream (which must be in
    /// blocking mode). `TCP_NODELAY` is set: messages are latency-bound.
    fn from(stream: TcpStream) -> Connection {
        // A failure only costs latency.
        let _ = stream.set_nodelay(true);
        Connection::new(stream.into(), true, true, false, Framing::Mp)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_ref().map(|fd| fd.as_raw_fd()))
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("transport", &self.transport())
            .field("framing", &self.framing)
            .field("shared_memory", &self.fast.is_some())
            .finish()
    }
}

impl AsFd for Connection {
    /// # Panics
    ///
    /// If the connection was closed.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd().expect("Connection::as_fd on a closed connection")
    }
}

struct Writer {
    buf: Vec<u8>,
    /// A send timed out mid-frame: the stream can't be resynchronised.
    torn: bool,
}

impl Writer {
    fn finish(&mut self, result: Result<(), crate::socket::SendFailure>) -> Result<()> {
        result.map_err(|failure| {
            if failure.partial {
                self.torn = true;
                if matches!(failure.error, Error::Timeout) {
                    return Error::Torn;
                }
            }
            failure.error
        })
    }
}
