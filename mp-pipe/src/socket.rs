//! Raw stream-socket I/O: partial reads and writes with descriptors attached,
//! `EINTR` retried, `SIGPIPE` never raised, deadlines honoured.

use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use mp_internal::Deadline;

use crate::error::{Error, Result};
use crate::frame::MAX_FDS_PER_SEND;
use crate::poll::poll_one;

/// Room for the most descriptors one message can carry.
const CMSG_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX_FDS_PER_SEND));

/// Reads at least one byte into `dst` (0 means end of file), appending any
/// descriptors that arrive to `fds`. `unix` selects `recvmsg` with room for
/// `SCM_RIGHTS`; TCP uses plain `recv`.
pub(crate) fn recv_some(
    fd: BorrowedFd<'_>,
    unix: bool,
    dst: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
    deadline: &Deadline,
) -> Result<usize> {
    // Never block in the call itself: when nothing is there, `wait_ready`
    // spins briefly, then sleeps in poll.
    let flags = RecvFlags::DONTWAIT;
    loop {
        let result = if unix {
            let mut space = [MaybeUninit::<u8>::uninit(); CMSG_SPACE];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(dst)];
            match rustix::net::recvmsg(fd, &mut iov, &mut control, flags | RecvFlags::CMSG_CLOEXEC)
            {
                Ok(msg) => {
                    for message in control.drain() {
                        if let RecvAncillaryMessage::ScmRights(received) = message {
                            fds.extend(received);
                        }
                    }
                    if msg.flags.contains(ReturnFlags::CTRUNC) {
                        return Err(Error::Protocol(
                            "descriptors were truncated in transit".into(),
                        ));
                    }
                    Ok(msg.bytes)
                }
                Err(e) => Err(e),
            }
        } else {
            rustix::net::recv(fd, &mut *dst, flags).map(|(n, _)| n)
        };
        match result {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => wait_ready(fd, PollFlags::IN, deadline)?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads at least one byte into the spare capacity of `dst` (0 means end of
/// file). For bulk payloads after all descriptors of a frame have arrived.
pub(crate) fn recv_into_spare(
    fd: BorrowedFd<'_>,
    dst: &mut Vec<u8>,
    deadline: &Deadline,
) -> Result<usize> {
    // Never block in the call itself: when nothing is there, `wait_ready`
    // spins briefly, then sleeps in poll.
    let flags = RecvFlags::DONTWAIT;
    loop {
        let before = dst.len();
        match rustix::net::recv(fd, rustix::buffer::spare_capacity(dst), flags) {
            Ok(_) => return Ok(dst.len() - before),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => wait_ready(fd, PollFlags::IN, deadline)?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// How far a send got before it failed.
pub(crate) struct SendFailure {
    pub(crate) error: Error,
    /// True when some bytes were written: the stream now holds a partial frame.
    pub(crate) partial: bool,
}

/// Writes the concatenation of `parts`, attaching `fds` to the first bytes
/// (in batches of at most `SCM_MAX_FD`, one byte per extra batch).
pub(crate) fn send_all(
    fd: BorrowedFd<'_>,
    parts: &[&[u8]],
    fds: &[OwnedFd],
    deadline: &Deadline,
) -> Result<(), SendFailure> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    let mut flags = SendFlags::NOSIGNAL;
    if !deadline.is_never() {
        flags |= SendFlags::DONTWAIT;
    }
    let mut offset = 0;
    let mut fds_sent = 0;
    while offset < total {
        let batch = &borrowed[fds_sent..borrowed.len().min(fds_sent + MAX_FDS_PER_SEND)];
        // While more batches follow, send one byte with this one.
        let limit = if fds_sent + batch.len() < borrowed.len() {
            1
        } else {
            total - offset
        };
        let iov = slices_from(parts, offset, limit);
        let result = if batch.is_empty() {
            rustix::net::sendmsg(fd, &iov, &mut SendAncillaryBuffer::default(), flags)
        } else {
            let mut space = [MaybeUninit::<u8>::uninit(); CMSG_SPACE];
            let mut control = SendAncillaryBuffer::new(&mut space);
            let pushed = control.push(SendAncillaryMessage::ScmRights(batch));
            debug_assert!(pushed, "control buffer sized for SCM_MAX_FD descriptors");
            rustix::net::sendmsg(fd, &iov, &mut control, flags)
        };
        match result {
            Ok(n) => {
                if n > 0 {
                    fds_sent += batch.len();
                }
                offset += n;
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                if let Err(error) = wait_ready(fd, PollFlags::OUT, deadline) {
                    return Err(SendFailure {
                        error,
                        partial: offset > 0,
                    });
                }
            }
            Err(e) => {
                return Err(SendFailure {
                    error: e.into(),
                    partial: offset > 0,
                });
            }
        }
    }
    Ok(())
}

/// Io slices covering `len` bytes of the concatenation of `parts` from `offset`.
fn slices_from<'a>(parts: &[&'a [u8]], mut offset: usize, mut len: usize) -> Vec<IoSlice<'a>> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        if offset >= part.len() {
            offset -= part.len();
            continue;
        }
        let take = (part.len() - offset).min(len);
        out.push(IoSlice::new(&part[offset..offset + take]));
        len -= take;
        offset = 0;
        if len == 0 {
            break;
        }
    }
    out
}

/// Waits for `events` after a non-blocking call found nothing to do.
fn wait_ready(fd: BorrowedFd<'_>, events: PollFlags, deadline: &Deadline) -> Result<()> {
    if poll_one(fd, events, deadline)? {
        Ok(())
    } else {
        Err(Error::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flatten(slices: &[IoSlice<'_>]) -> Vec<u8> {
        slices.iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn slices_cover_the_requested_window() {
        let parts: [&[u8]; 3] = [b"abc", b"", b"defgh"];
        assert_eq!(flatten(&slices_from(&parts, 0, 8)), b"abcdefgh");
        assert_eq!(flatten(&slices_from(&parts, 2, 3)), b"cde");
        assert_eq!(flatten(&slices_from(&parts, 3, 5)), b"defgh");
        assert_eq!(flatten(&slices_from(&parts, 7, 1)), b"h");
        assert_eq!(flatten(&slices_from(&parts, 0, 1)), b"a");
    }
}
