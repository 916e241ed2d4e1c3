//! A small blocking connection with CPython's framing over a Unix or TCP
//! stream: enough to talk to a real `multiprocessing.connection` peer
//! (tests, tools) before mp-pipe carries the CPython wire itself.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, Result};
use crate::frame::{FrameHeader, HeaderParse, parse_frame_header};
use crate::handshake::MessageChannel;

/// A byte stream whose reads and writes can time out.
pub trait TimeoutStream: Read + Write {
    /// Sets the read timeout (`None` blocks).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Sets the write timeout (`None` blocks).
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl TimeoutStream for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
}

impl TimeoutStream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

/// Reads grow the buffer by at most this much beyond the bytes received, so
/// a huge announced length costs nothing until the bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// CPython-framed messages over a blocking stream (`Connection.send_bytes`
/// / `recv_bytes` of `multiprocessing.connection`).
///
/// A timeout or a too-long message in the middle of a frame leaves the
/// stream out of step: drop the connection afterwards, as CPython does.
#[derive(Debug)]
pub struct BlockingConnection<S> {
    stream: S,
}

fn remaining(deadline: Option<Instant>) -> Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(ErrorKind::Timeout.into())
            } else {
                Ok(Some(left))
            }
        }
    }
}

impl<S: TimeoutStream> BlockingConnection<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> BlockingConnection<S> {
        BlockingConnection { stream }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, unwrapped.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Sends one message (header and payload).
    pub fn send_bytes(&mut self, message: &[u8]) -> Result<()> {
        self.send(message, None)
    }

    /// Receives one message of at most `max_len` bytes.
    pub fn recv_bytes(&mut self, max_len: usize) -> Result<Vec<u8>> {
        self.recv(max_len, None)
    }

    fn send(&mut self, message: &[u8], deadline: Option<Instant>) -> Result<()> {
        let header = FrameHeader::new(message.len() as u64);
        // One write for small messages (Nagle), as CPython does.
        let joined;
        let parts: [&[u8]; 2] = if message.len() <= 16384 {
            joined = [header.as_bytes(), message].concat();
            [&joined, &[]]
        } else {
            [header.as_bytes(), message]
        };
        for part in parts {
            let mut written = 0;
            while written < part.len() {
                self.stream.set_write_timeout(remaining(deadline)?)?;
                match self.stream.write(&part[written..]) {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Reads into `buf[filled..]` until full; `Ok(false)` if the stream
    /// ended before any byte.
    fn fill(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            self.stream.set_read_timeout(remaining(deadline)?)?;
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(ErrorKind::TruncatedMessage.into()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    fn recv(&mut self, max_len: usize, deadline: Option<Instant>) -> Result<Vec<u8>> {
        let mut header = [0u8; 12];
        if !self.fill(&mut header[..4], deadline)? {
            return Err(ErrorKind::Eof.into());
        }
        let len = match parse_frame_header(&header[..4])? {
            HeaderParse::Complete { payload_len, .. } => payload_len,
            HeaderParse::NeedMore(_) => {
                if !self.fill(&mut header[4..], deadline)? {
                    return Err(ErrorKind::TruncatedMessage.into());
                }
                match parse_frame_header(&header)? {
                    HeaderParse::Complete { payload_len, .. } => payload_len,
                    HeaderParse::NeedMore(_) => unreachable!("twelve bytes make a header"),
                }
            }
        };
        if len > max_len as u64 {
            return Err(ErrorKind::MessageTooLarge {
                len,
                limit: max_len as u64,
            }
            .into());
        }
        let len = len as usize;
        let mut message = Vec::new();
        while message.len() < len {
            let start = message.len();
            let chunk = (len - start).min(READ_CHUNK);
            message.resize(start + chunk, 0);
            if !self.fill(&mut message[start..], deadline)? {
                return Err(ErrorKind::TruncatedMessage.into());
            }
        }
        Ok(message)
    }
}

impl<S: TimeoutStream> MessageChannel for BlockingConnection<S> {
    fn send_message(&mut self, message: &[u8], deadline: Instant) -> Result<()> {
        self.send(message, Some(deadline))
    }

    fn recv_message(&mut self, max_len: usize, deadline: Instant) -> Result<Vec<u8>> {
        self.recv(max_len, Some(deadline))
    }
}
