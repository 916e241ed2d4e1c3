//! Pinning a process or thread to one CPU, for the one-CPU groups.

use rustix::process::Pid;
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Pins the calling thread (`None`) or process `pid` to `cpu`; returns the
/// mask it had, for [`unpin`].
pub(crate) fn pin(pid: Option<u32>, cpu: usize) -> CpuSet {
    let pid = pid.map(|pid| Pid::from_raw(pid as i32).expect("a pid is positive"));
    let before = sched_getaffinity(pid).unwrap();
    let mut one = CpuSet::new();
    one.set(cpu);
    sched_setaffinity(pid, &one).unwrap();
    before
}

/// Gives the calling thread back the mask [`pin`] returned.
pub(crate) fn unpin(before: &CpuSet) {
    sched_setaffinity(None, before).unwrap();
}
