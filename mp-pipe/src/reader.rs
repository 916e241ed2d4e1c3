//! The receive side of a connection: reads frames out of the stream, keeps
//! partial ones across timeouts, skips refused ones, and lets its memory
//! follow the bytes that actually arrived.

use std::collections::VecDeque;
use std::ops::Range;
use std::os::fd::OwnedFd;

use mp_internal::Deadline;
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::frame::{Framing, Header};
use crate::socket::Stream;

/// The read buffer starts this small (a pending handshake or an idle
/// connection costs little) and doubles while it is full.
const FIRST_READ_BUF: usize = 4 * 1024;

/// The read buffer grows no further; frames larger than this are read
/// straight into their own allocation.
pub(crate) const READ_BUF: usize = 64 * 1024;

/// No sender writes a frame longer than this (256 TiB) or with more
/// descriptors than this: a header that says so, within this end's limit
/// (over it, the message is refused and skipped as too large), means the
/// stream lost its framing ([`Error::Corrupt`]), not a message to make
/// room for.
const PLAUSIBLE_LEN: u64 = 1 << 48;
const PLAUSIBLE_FDS: u32 = 1 << 20;

/// Whether `header` could come from a sender (a TLS record read as a
/// header is left to the handshake, which names it).
fn plausible(framing: Framing, header: Header) -> bool {
    (header.len <= PLAUSIBLE_LEN || framing.looks_like_tls(header.len))
        && header.nfds <= PLAUSIBLE_FDS
}

/// Where a received payload lives.
pub(crate) enum Payload {
    Buffered(Range<usize>),
    Owned(Vec<u8>),
}

/// The receive side's state. It survives timeouts, so a message that
/// arrives in pieces across several `recv_timeout` calls is not lost.
pub(crate) struct Reader {
    framing: Framing,
    pub(crate) buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Descriptors received but not yet claimed by a message.
    fds: VecDeque<OwnedFd>,
    /// Bytes (and descriptors) of a refused, too-large message still to discard.
    skip: u64,
    skip_fds: u32,
    /// A message larger than the buffer, being read into its own
    /// allocation, which grows as the bytes arrive (never ahead of them by
    /// more than it already holds), so a peer that announces a huge
    /// message and sends little costs little.
    big: Option<(Header, Vec<u8>)>,
}

impl Reader {
    pub(crate) fn new(framing: Framing) -> Reader {
        Reader {
            framing,
            buf: Vec::new(),
            start: 0,
            end: 0,
            fds: VecDeque::new(),
            skip: 0,
            skip_fds: 0,
            big: None,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Whether the next `next_frame` returns without reading (a whole
    /// message, or a header that it refuses, is buffered).
    pub(crate) fn has_message(&self, max: u64) -> bool {
        if self.skip > 0 || self.big.is_some() {
            return false;
        }
        match self.framing.decode(self.buffered()) {
            Ok(None) => false,
            Err(_) => true,
            Ok(Some((header, header_len))) => {
                header.len > max
                    || !plausible(self.framing, header)
                    || (self.buffered().len() - header_len) as u64 >= header.len
            }
        }
    }

    pub(crate) fn next_frame(
        &mut self,
        stream: Stream<'_>,
        max: u64,
        deadline: &Deadline,
    ) -> Result<(Payload, Vec<OwnedFd>)> {
        loop {
            if self.skip > 0 {
                let take = self.skip.min(self.buffered().len() as u64) as usize;
                self.start += take;
                self.skip -= take as u64;
                if self.skip > 0 {
                    self.fill(stream, deadline)?;
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
                    self.fill(stream, deadline)?;
                    continue;
                }
                if data.len() == data.capacity() {
                    // Double what arrived so far, up to what is still due.
                    let step = data.capacity().max(READ_BUF).min(want);
                    if data.try_reserve_exact(step).is_err() {
                        let (header, data) = self.big.take().expect("checked above");
                        self.skip = header.len - data.len() as u64;
                        self.skip_fds = header.nfds;
                        return Err(Error::Io(std::io::Error::new(
                            std::io::ErrorKind::OutOfMemory,
                            format!(
                                "cannot allocate memory for an incoming message of {} bytes \
                                 (it is skipped)",
                                header.len
                            ),
                        )));
                    }
                }
                if reset_is_eof(stream.recv_into_spare(data, deadline))? == 0 {
                    self.clear();
                    return Err(Error::Truncated);
                }
                continue;
            }
            match self.framing.decode(self.buffered()) {
                Err(bad) => {
                    self.start += bad.consumed;
                    return Err(Error::Protocol(format!(
                        "a frame header announcing a negative length ({})",
                        bad.value
                    )));
                }
                Ok(Some((header, header_len))) => {
                    if header.len > max {
                        self.start += header_len;
                        self.skip = header.len;
                        self.skip_fds = header.nfds;
                        return Err(Error::MessageTooLarge {
                            len: header.len,
                            limit: max,
                        });
                    }
                    if !plausible(self.framing, header) {
                        self.clear();
                        return Err(Error::Corrupt(format!(
                            "a frame header announcing {} bytes and {} descriptors",
                            header.len, header.nfds
                        )));
                    }
                    let total = header_len as u64 + header.len;
                    if self.buffered().len() as u64 >= total {
                        let body = self.start + header_len..self.start + total as usize;
                        self.start = body.end;
                        let fds = self.take_fds(header.nfds)?;
                        return Ok((Payload::Buffered(body), fds));
                    }
                    if total > READ_BUF as u64 {
                        usize::try_from(header.len).map_err(|_| {
                            Error::Protocol("message larger than the address space".into())
                        })?;
                        self.start += header_len;
                        self.big = Some((header, Vec::new()));
                        continue;
                    }
                }
                Ok(None) => {}
            }
            self.fill(stream, deadline)?;
        }
    }

    /// Reads more bytes into the buffer. End of file is `Eof` at a message
    /// boundary and `Truncated` inside one (the partial message is dropped).
    fn fill(&mut self, stream: Stream<'_>, deadline: &Deadline) -> Result<()> {
        if self.buf.is_empty() {
            self.buf = vec![0; FIRST_READ_BUF];
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // Full of one frame's start: frames up to READ_BUF live here.
                let len = (self.buf.len() * 2).min(READ_BUF);
                self.buf.resize(len, 0);
            }
        }
        let n = reset_is_eof(stream.recv_some(&mut self.buf[self.end..], &mut self.fds, deadline))?;
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
