//! The `Spawn` start method: re-execute this binary; the start-up hook in
//! the new process reads the job from an inherited socket before `main`.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use mp_pipe::Connection;
use rustix::process::{Pid, PidfdFlags};

use crate::children::Child;
use crate::error::{Error, Result};
use crate::job::{Bootstrap, Job};
use crate::method::StartMethod;
use crate::{starter, sys};

pub(crate) fn start(job: Job) -> Result<Arc<Child>> {
    let identity = job.identity.clone();
    let (conn, pid, pidfd) = exec_self()?;
    let child = Arc::new(Child::new(pid, pidfd, &identity, StartMethod::Spawn));
    if let Err(e) = conn.send(&Bootstrap::Run(job)) {
        // The child cannot run without its job: don't leave it behind.
        let _ = child.signal(rustix::process::Signal::KILL);
        let _ = child.wait(None);
        return Err(Error::Pipe(e));
    }
    Ok(child)
}

/// Starts a copy of this binary that waits for a bootstrap message on the
/// returned connection.
pub(crate) fn exec_self() -> Result<(Connection, u32, std::os::fd::OwnedFd)> {
    if !sys::HOOK_RAN.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::StartUpHookMissing);
    }
    let executable = crate::executable::executable()?;
    let (ours, theirs) = sys::socket_pair()?;
    // `theirs` becomes the child's stdin; this process's copy closes once
    // the child is started.
    let pid = starter::run(move || sys::spawn_self(&executable, theirs))?;
    let pidfd = rustix::process::pidfd_open(
        Pid::from_raw(pid as i32).expect("spawn returned a positive pid"),
        PidfdFlags::empty(),
    )?;
    Ok((Connection::from(UnixStream::from(ours)), pid, pidfd))
}
