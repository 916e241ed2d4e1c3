//! What a child used (CPU time, peak memory), as `os.wait4` reports it:
//! kept when the child is reaped, by this process for its own children and
//! by the forkserver, which sends it up with the exit code, for the
//! children it starts.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::io::Errno;

/// A child's resource usage, read when it was reaped
/// ([`Process::rusage`](crate::Process::rusage)): its own CPU time and that
/// of the descendants it waited for, and its peak resident memory.
///
/// Under the default start method (the forkserver) a child is the
/// forkserver's, not this process's: the shell's `time` and
/// `getrusage(RUSAGE_CHILDREN)` of this process do not count it, this does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceUsage {
    pub(crate) user_time: Duration,
    pub(crate) system_time: Duration,
    pub(crate) max_rss: u64,
}

impl ResourceUsage {
    /// CPU time spent in user mode (`ru_utime`).
    pub fn user_time(&self) -> Duration {
        self.user_time
    }

    /// CPU time spent in the kernel on its behalf (`ru_stime`).
    pub fn system_time(&self) -> Duration {
        self.system_time
    }

    /// User plus system time.
    pub fn cpu_time(&self) -> Duration {
        self.user_time + self.system_time
    }

    /// Peak resident set size in bytes (`ru_maxrss`, which the kernel
    /// counts in KiB).
    pub fn max_rss(&self) -> u64 {
        self.max_rss
    }
}

/// Two children's usage together, as `getrusage(RUSAGE_CHILDREN)` counts
/// them: times add up, the peak RSS is the larger peak.
impl std::ops::Add for ResourceUsage {
    type Output = ResourceUsage;

    fn add(self, other: ResourceUsage) -> ResourceUsage {
        ResourceUsage {
            user_time: self.user_time + other.user_time,
            system_time: self.system_time + other.system_time,
            max_rss: self.max_rss.max(other.max_rss),
        }
    }
}

impl std::ops::AddAssign for ResourceUsage {
    fn add_assign(&mut self, other: ResourceUsage) {
        *self = *self + other;
    }
}

impl std::iter::Sum for ResourceUsage {
    fn sum<I: Iterator<Item = ResourceUsage>>(iter: I) -> ResourceUsage {
        iter.fold(ResourceUsage::default(), |a, b| a + b)
    }
}

/// A forkserver child's status pipe carries the child's own early report
/// (its exit code, 4 bytes, written as it exits) and then the forkserver's,
/// written when it reaps the child: this tag, the exit code and the usage,
/// in one write under `PIPE_BUF`, so it arrives whole. The tag is no exit
/// code (those are -64..=255).
const USAGE_TAG: i32 = i32::MIN;

/// How long [`Process::rusage`](crate::Process::rusage) waits for the
/// forkserver's report once the child has reported its own exit (the
/// forkserver reaps it within microseconds; this only bounds a stuck one).
pub(crate) const REPORT_WAIT: Duration = Duration::from_secs(2);

/// The forkserver's report of a reaped child.
pub(crate) fn status_message(code: i32, usage: &ResourceUsage) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..4].copy_from_slice(&USAGE_TAG.to_le_bytes());
    out[4..8].copy_from_slice(&code.to_le_bytes());
    out[8..16].copy_from_slice(&(usage.user_time.as_micros() as u64).to_le_bytes());
    out[16..24].copy_from_slice(&(usage.system_time.as_micros() as u64).to_le_bytes());
    out[24..32].copy_from_slice(&usage.max_rss.to_le_bytes());
    out
}

/// Reads the next report from a forkserver child's status pipe
/// (non-blocking): `None` if none has arrived; the exit code, with the
/// usage if the report is the forkserver's.
pub(crate) fn read_status(pipe: &OwnedFd) -> io::Result<Option<(i32, Option<ResourceUsage>)>> {
    let mut tag = [0u8; 4];
    if !read_exact_or_none(pipe, &mut tag)? {
        return Ok(None);
    }
    let tag = i32::from_le_bytes(tag);
    if tag != USAGE_TAG {
        return Ok(Some((tag, None)));
    }
    let mut rest = [0u8; 28];
    if !read_exact_or_none(pipe, &mut rest)? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a usage report cut short",
        ));
    }
    let word = |at: usize| u64::from_le_bytes(rest[at..at + 8].try_into().unwrap());
    let usage = ResourceUsage {
        user_time: Duration::from_micros(word(4)),
        system_time: Duration::from_micros(word(12)),
        max_rss: word(20),
    };
    Ok(Some((
        i32::from_le_bytes(rest[..4].try_into().unwrap()),
        Some(usage),
    )))
}

/// Fills `buf` from the pipe: false if nothing is there yet. End of file
/// reads as exit code -SIGKILL: the forkserver vanished before reporting,
/// and its children are killed with it (parent-death signal).
fn read_exact_or_none(pipe: &OwnedFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(pipe, &mut buf[got..]) {
            Ok(0) if got == 0 => {
                buf[..4].copy_from_slice(&(-libc::SIGKILL).to_le_bytes());
                return Ok(true);
            }
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{got}-byte exit status"),
                ));
            }
            Ok(n) => got += n,
            // Reports are written whole, so a partial one completes at once.
            Err(Errno::AGAIN) if got == 0 => return Ok(false),
            Err(Errno::AGAIN | Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}
