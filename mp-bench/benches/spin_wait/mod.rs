//! mp's wait policy for the floors: look for the peer's answer without
//! sleeping for a while, then sleep, so that a floor and mp pay for the same
//! wait and a row compares transports, not wait policies.
//!
//! mp's `recv` (mp-pipe's `poll`) first polls its socket with a zero
//! timeout for up to 30 µs, when spinning is useful ([`mp_internal::spin`]:
//! the waiter may run on more than one CPU), then sleeps in `poll`. A floor
//! that blocks at once pays the 50-60 µs cross-core wake-up of an idle vCPU
//! that mp's spin saves; with this policy it does not either.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

/// How long mp's waits poll without sleeping: mp-pipe's `SPIN_FOR`
/// (private there; keep the two equal).
const SPIN_FOR: Duration = Duration::from_micros(30);

/// Calls `ready` until it says yes or [`SPIN_FOR`] has passed, if spinning
/// pays off as mp decides it; returns whether it said yes (if not, the
/// caller sleeps in its blocking call). The loop is mp's own
/// ([`mp_internal::spin::until`]: backing off between looks, and offering
/// the CPU to other threads a few microseconds in).
pub(crate) fn spin_until(ready: impl FnMut() -> bool) -> bool {
    mp_internal::spin::is_useful() && mp_internal::spin::until(SPIN_FOR, ready)
}

/// Whether `stream` has bytes (or end of file) to read now: a `poll` with
/// a zero timeout, mp's probe.
fn readable(stream: &UnixStream) -> bool {
    let mut fds = [PollFd::new(stream, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&zero)).is_ok_and(|n| n > 0)
}

/// `stream.read_exact(buf)`, each read waiting as mp waits: spinning on a
/// zero-timeout `poll` for up to [`SPIN_FOR`], then sleeping in the read.
fn read_exact(stream: &mut UnixStream, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        spin_until(|| readable(stream));
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How a floor waits for its answer.
#[derive(Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Wait {
    /// Sleeps in the read at once.
    Blocking,
    /// As mp waits: spins up to [`SPIN_FOR`], then sleeps.
    SpinThenBlock,
}

impl Wait {
    /// The bench id's suffix: none for the blocking form (the ids the
    /// floors had before they learnt to wait as mp waits).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Wait::Blocking => "",
            Wait::SpinThenBlock => "_spin_then_block",
        }
    }

    /// `stream.read_exact(buf)`, waiting this way.
    pub(crate) fn read_exact(self, stream: &mut UnixStream, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Wait::Blocking => stream.read_exact(buf),
            Wait::SpinThenBlock => read_exact(stream, buf),
        }
    }
}
