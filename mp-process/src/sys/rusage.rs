//! Reaping a child through its pidfd with the kernel's `waitid`, which also
//! reports the child's resource usage (a fifth argument the libc wrapper
//! and rustix leave out).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use crate::rusage::ResourceUsage;

/// Reaps the child behind `pidfd` if it has ended: its Python exit code
/// (the status of a normal exit, minus the signal number of a killing
/// signal) and what it used. `Ok(None)` while it runs.
pub(crate) fn reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<(i32, ResourceUsage)>> {
    // SAFETY: both are plain C structs for which all-zero bytes are valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid(P_PIDFD, fd, &info, options, &usage) writes only
        // into the two structs, which outlive the call; `pidfd` is open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                libc::P_PIDFD,
                pidfd.as_raw_fd(),
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED | libc::WNOHANG,
                &mut usage as *mut libc::rusage,
            )
        };
        if rc == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        break;
    }
    // SAFETY: the kernel filled `info` as a SIGCHLD siginfo (or left it
    // zeroed under WNOHANG when nothing ended), so these union fields are
    // the ones it wrote.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let code = match info.si_code {
        libc::CLD_EXITED => status,
        libc::CLD_KILLED | libc::CLD_DUMPED => -status,
        _ => -1,
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Some((
        code,
        ResourceUsage {
            user_time: time(usage.ru_utime),
            system_time: time(usage.ru_stime),
            // The kernel counts in KiB.
            max_rss: (usage.ru_maxrss as u64) << 10,
        },
    )))
}
