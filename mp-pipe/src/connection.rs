use std::collections::VecDeque;
use std::fmt;
use std::net::TcpStream;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mp_handle::{Fd, FdRef};
use parking_lot::Mutex;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use mp_internal::Deadline;

use crate::error::{Error, Result};
use crate::frame::{HEADER_LEN, Header};
use crate::poll::poll_one;
use crate::socket::{recv_into_spare, recv_some, send_all};

/// Size of the read buffer; frames larger than this are read straight into
/// their own allocation.
const READ_BUF: usize = 64 * 1024;

/// A send buffer that grew past this is released after the send.
const KEEP_SEND_BUF: usize = 1 << 20;

/// One end of a [`pipe`], or a connection made by a [`Listener`](crate::Listener)
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
/// # Example
///
/// ```
/// # fn main() -> Result<(), mp_pipe::Error> {
/// let (a, b) = mp_pipe::pipe()?;
/// a.send(&("hello", 42u32))?;
/// let (word, n): (String, u32) = b.recv()?;
/// assert_eq!((word.as_str(), n), ("hello", 42));
/// # Ok(())
/// # }
/// ```
pub struct Connection {
    fd: Option<OwnedFd>,
    readable: bool,
    writable: bool,
    /// Unix sockets carry descriptors; TCP does not.
    unix: bool,
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
}

/// Creates a connected pair of duplex connections (Python's `Pipe()`).
///
/// Both ends can send and receive. Use [`pipe_simplex`] for Python's
/// `Pipe(duplex=False)`.
#[doc(alias = "Pipe")]
pub fn pipe() -> Result<(Connection, Connection)> {
    let (a, b) = socketpair()?;
    Ok((
        Connection::new(a, true, true, true),
        Connection::new(b, true, true, true),
    ))
}

/// Creates a one-way pair `(receiver, sender)` (Python's `Pipe(duplex=False)`).
///
/// Receiving on the sender or sending on the receiver is an error
/// ([`Error::NotReadable`] / [`Error::NotWritable`]).
#[doc(alias = "Pipe")]
pub fn pipe_simplex() -> Result<(Connection, Connection)> {
    let (a, b) = socketpair()?;
    rustix::net::shutdown(&a, rustix::net::Shutdown::Write)?;
    rustix::net::shutdown(&b, rustix::net::Shutdown::Read)?;
    Ok((
        Connection::new(a, true, false, true),
        Connection::new(b, false, true, true),
    ))
}

fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

impl Connection {
    fn new(fd: OwnedFd, readable: bool, writable: bool, unix: bool) -> Connection {
        mp_internal::tracked::track(fd.as_fd());
        Connection {
            fd: Some(fd),
            readable,
            writable,
            unix,
            reader: Mutex::new(Reader::new()),
            writer: Mutex::new(Writer {
                buf: Vec::new(),
                torn: false,
            }),
        }
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
        let fd = self.read_fd()?;
        let mut reader = self.reader.lock();
        let (payload, _fds) = reader.next_frame(fd, self.unix, &Deadline::never())?;
        let bytes = reader.bytes(&payload);
        if bytes.len() > buf.len() {
            return Err(Error::BufferTooShort(bytes.to_vec()));
        }
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(bytes.len())
    }

    /// Returns whether a message (or end of file) can be received without
    /// blocking, waiting up to `timeout` for one (Python's `poll`).
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        let fd = self.read_fd()?;
        if self.has_buffered_message() {
            return Ok(true);
        }
        Ok(poll_one(fd, PollFlags::IN, &Deadline::after(timeout))?)
    }

    /// Closes this end (Python's `close`). The peer sees end of file once it
    /// has received what was sent. Every later call on this end fails with
    /// [`Error::Closed`]; closing twice is fine.
    pub fn close(&mut self) {
        if let Some(fd) = self.fd.take() {
            mp_internal::tracked::untrack(fd.as_fd());
        }
        *self.reader.get_mut() = Reader::new();
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
    pub fn set_max_message_size(&self, bytes: u64) {
        self.reader.lock().max = bytes;
    }

    /// The current limit on incoming messages.
    pub fn max_message_size(&self) -> u64 {
        self.reader.lock().max
    }

    /// A second handle on the same connection (a `dup` of the descriptor).
    ///
    /// The copies share the stream, not their buffers: use one of them per
    /// direction, or messages may be split between them.
    pub fn try_clone(&self) -> Result<Connection> {
        let fd = rustix::io::fcntl_dupfd_cloexec(self.fd()?, 0)?;
        let conn = Connection::new(fd, self.readable, self.writable, self.unix);
        conn.set_max_message_size(self.max_message_size());
        Ok(conn)
    }

    pub(crate) fn has_buffered_message(&self) -> bool {
        self.reader.try_lock().is_some_and(|r| r.has_message())
    }

    fn fd(&self) -> Result<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd()).ok_or(Error::Closed)
    }

    fn read_fd(&self) -> Result<BorrowedFd<'_>> {
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
        let fd = self.write_fd()?;
        let mut guard = self.writer.lock();
        let writer = &mut *guard;
        if writer.torn {
            return Err(Error::Torn);
        }
        writer.buf.clear();
        writer.buf.extend_from_slice(&[0; HEADER_LEN]);
        let fds = mp_handle::encode_into(value, &mut writer.buf).map_err(Error::Encode)?;
        if !fds.is_empty() && !self.unix {
            return Err(Error::HandlesNotSupported);
        }
        let header = Header {
            len: (writer.buf.len() - HEADER_LEN) as u64,
            nfds: fds.len() as u32,
        };
        writer.buf[..HEADER_LEN].copy_from_slice(&header.encode());
        let result = send_all(fd, &[&writer.buf], &fds, deadline);
        if writer.buf.capacity() > KEEP_SEND_BUF {
            writer.buf = Vec::new();
        }
        writer.finish(result)
    }

    fn send_raw(&self, bytes: &[u8], deadline: &Deadline) -> Result<()> {
        let fd = self.write_fd()?;
        let mut writer = self.writer.lock();
        if writer.torn {
            return Err(Error::Torn);
        }
        let header = Header {
            len: bytes.len() as u64,
            nfds: 0,
        }
        .encode();
        let result = send_all(fd, &[&header, bytes], &[], deadline);
        writer.finish(result)
    }

    fn recv_value<T: DeserializeOwned>(&self, deadline: &Deadline) -> Result<T> {
        let fd = self.read_fd()?;
        let mut reader = self.reader.lock();
        let (payload, fds) = reader.next_frame(fd, self.unix, deadline)?;
        mp_handle::decode(reader.bytes(&payload), fds).map_err(Error::Decode)
    }

    fn recv_raw(&self, deadline: &Deadline) -> Result<Vec<u8>> {
        let fd = self.read_fd()?;
        let mut reader = self.reader.lock();
        let (payload, _fds) = reader.next_frame(fd, self.unix, deadline)?;
        Ok(match payload {
            Payload::Owned(bytes) => bytes,
            Payload::Buffered(range) => reader.buf[range].to_vec(),
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
        Connection::new(stream.into(), true, true, true)
    }
}

impl From<TcpStream> for Connection {
    /// A duplex connection over a connected TCP stream (which must be in
    /// blocking mode). `TCP_NODELAY` is set: messages are latency-bound.
    fn from(stream: TcpStream) -> Connection {
        // A failure only costs latency.
        let _ = stream.set_nodelay(true);
        Connection::new(stream.into(), true, true, false)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_ref().map(|fd| fd.as_raw_fd()))
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("transport", &if self.unix { "unix" } else { "tcp" })
            .finish()
    }
}

/// How a `Connection` travels to another process: its descriptor goes
/// through the transport's handle table, its settings as data.
#[derive(Serialize)]
struct WireRef<'a> {
    fd: FdRef<'a>,
    readable: bool,
    writable: bool,
    unix: bool,
    max: u64,
}

#[derive(Deserialize)]
struct WireOwned {
    fd: Fd,
    readable: bool,
    writable: bool,
    unix: bool,
    max: u64,
}

impl Serialize for Connection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = self.fd().map_err(serde::ser::Error::custom)?;
        WireRef {
            fd: FdRef(fd),
            readable: self.readable,
            writable: self.writable,
            unix: self.unix,
            max: self.max_message_size(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Connection, D::Error> {
        let wire = WireOwned::deserialize(deserializer)?;
        let conn = Connection::new(
            wire.fd.into_owned(),
            wire.readable,
            wire.writable,
            wire.unix,
        );
        conn.reader.lock().max = wire.max;
        Ok(conn)
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

impl crate::Waitable for Connection {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    fn ready_now(&self) -> bool {
        self.has_buffered_message()
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

/// Where a received payload lives.
enum Payload {
    Buffered(Range<usize>),
    Owned(Vec<u8>),
}

/// The receive side's state. It survives timeouts, so a message that
/// arrives in pieces across several `recv_timeout` calls is not lost.
struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Descriptors received but not yet claimed by a message.
    fds: VecDeque<OwnedFd>,
    /// Bytes (and descriptors) of a refused, too-large message still to discard.
    skip: u64,
    skip_fds: u32,
    /// A message larger than the buffer, being read into its own allocation.
    big: Option<(Header, Vec<u8>)>,
    max: u64,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            fds: VecDeque::new(),
            skip: 0,
            skip_fds: 0,
            big: None,
            max: u64::MAX,
        }
    }

    fn bytes<'a>(&'a self, payload: &'a Payload) -> &'a [u8] {
        match payload {
            Payload::Buffered(range) => &self.buf[range.clone()],
            Payload::Owned(bytes) => bytes,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Whether the next `next_frame` returns without reading (a whole message,
    /// or a too-large header, is buffered).
    fn has_message(&self) -> bool {
        if self.skip > 0 || self.big.is_some() || self.buffered().len() < HEADER_LEN {
            return false;
        }
        let header = Header::decode(self.buffered());
        header.len > self.max || (self.buffered().len() - HEADER_LEN) as u64 >= header.len
    }

    fn next_frame(
        &mut self,
        fd: BorrowedFd<'_>,
        unix: bool,
        deadline: &Deadline,
    ) -> Result<(Payload, Vec<OwnedFd>)> {
        loop {
            if self.skip > 0 {
                let take = self.skip.min(self.buffered().len() as u64) as usize;
                self.start += take;
                self.skip -= take as u64;
                if self.skip > 0 {
                    self.fill(fd, unix, deadline)?;
                    continue;
                }
                let n = std::mem::take(&mut self.skip_fds);
                self.take_fds(n)?;
                continue;
            }
            if let Some((header, data)) = &mut self.big {
                let want = header.len as usize - data.len();
                let take = want.min(self.end - self.start);
                data.extend_from_slice(&self.buf[self.start..self.start + take]);
                self.start += take;
                if data.len() as u64 == header.len {
                    let (header, data) = self.big.take().expect("checked above");
                    let fds = self.take_fds(header.nfds)?;
                    return Ok((Payload::Owned(data), fds));
                }
                if self.fds.len() < header.nfds as usize {
                    // Descriptors still to come ride on the bytes: use recvmsg.
                    self.fill(fd, unix, deadline)?;
                } else if reset_is_eof(recv_into_spare(fd, data, deadline))? == 0 {
                    self.clear();
                    return Err(Error::Truncated);
                }
                continue;
            }
            if self.buffered().len() >= HEADER_LEN {
                let header = Header::decode(self.buffered());
                if header.len > self.max {
                    self.start += HEADER_LEN;
                    self.skip = header.len;
                    self.skip_fds = header.nfds;
                    return Err(Error::MessageTooLarge {
                        len: header.len,
                        limit: self.max,
                    });
                }
                let total = HEADER_LEN as u64 + header.len;
                if self.buffered().len() as u64 >= total {
                    let body = self.start + HEADER_LEN..self.start + total as usize;
                    self.start = body.end;
                    let fds = self.take_fds(header.nfds)?;
                    return Ok((Payload::Buffered(body), fds));
                }
                if total > READ_BUF as u64 {
                    let len = usize::try_from(header.len).map_err(|_| {
                        Error::Protocol("message larger than the address space".into())
                    })?;
                    self.start += HEADER_LEN;
                    let mut data = Vec::new();
                    data.try_reserve_exact(len).map_err(|_| {
                        Error::Io(std::io::Error::new(
                            std::io::ErrorKind::OutOfMemory,
                            format!("cannot allocate {len} bytes for an incoming message"),
                        ))
                    })?;
                    self.big = Some((header, data));
                    continue;
                }
            }
            self.fill(fd, unix, deadline)?;
        }
    }

    /// Reads more bytes into the buffer. End of file is `Eof` at a message
    /// boundary and `Truncated` inside one (the partial message is dropped).
    fn fill(&mut self, fd: BorrowedFd<'_>, unix: bool, deadline: &Deadline) -> Result<()> {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUF];
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = reset_is_eof(recv_some(
            fd,
            unix,
            &mut self.buf[self.end..],
            &mut self.fds,
            deadline,
        ))?;
        if n == 0 {
            let mid_message = self.start != self.end || self.big.is_some() || self.skip > 0;
            self.clear();
            return Err(if mid_message {
                Error::Truncated
            } else {
                Error::Eof
            });
        }
        self.end += n;
        Ok(())
    }

    fn take_fds(&mut self, n: u32) -> Result<Vec<OwnedFd>> {
        let n = n as usize;
        if self.fds.len() < n {
            return Err(Error::Protocol(format!(
                "message announced {n} descriptors but {} arrived",
                self.fds.len()
            )));
        }
        Ok(self.fds.drain(..n).collect())
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skip = 0;
        self.skip_fds = 0;
        self.big = None;
        self.fds.clear();
    }
}

/// A reset peer is a vanished peer: read it as end of file.
fn reset_is_eof(read: Result<usize>) -> Result<usize> {
    match read {
        Err(Error::Io(e)) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => Ok(0),
        other => other,
    }
}
