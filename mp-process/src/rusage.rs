//! What a child used (CPU time, peak memory), as `os.wait4` reports it:
//! kept when this process reaps the child (every child of mp is its
//! starter's own, the forkserver's too).

use std::time::Duration;

/// A child's resource usage, read when it was reaped
/// ([`Process::rusage`](crate::Process::rusage)): its own CPU time and that
/// of the descendants it waited for, and its peak resident memory.
///
/// A child counts in this process's `getrusage(RUSAGE_CHILDREN)` (and the
/// shell's `time`) only once it is reaped, which `join` does; this is the
/// child's own share.
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
