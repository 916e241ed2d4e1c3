//! Started children: waiting for them, signalling them, and the list of
//! this process's children.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::Signal;

use crate::method::StartMethod;
use crate::rusage::ResourceUsage;
use crate::state::{self, PerProcess};
use crate::sys;

/// A started child process.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: u32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    /// Terminated at exit as a daemon is (`Process::terminate_at_exit`),
    /// set before it is tracked.
    pub(crate) terminate_at_exit: AtomicBool,
    pub(crate) ident: Vec<u32>,
    pub(crate) method: StartMethod,
    /// The process that started it; only that process may wait for it.
    owner: u32,
    pidfd: OwnedFd,
    exit: Mutex<Option<i32>>,
    /// What it used, once reaped (`None` if the forkserver died first).
    usage: Mutex<Option<ResourceUsage>>,
}

impl Child {
    pub(crate) fn new(
        pid: u32,
        pidfd: OwnedFd,
        identity: &crate::current::Identity,
        method: StartMethod,
    ) -> Child {
        Child {
            pid,
            name: identity.name.clone(),
            daemon: identity.daemon,
            terminate_at_exit: AtomicBool::new(identity.daemon),
            ident: identity.ident.clone(),
            method,
            owner: state::pid(),
            pidfd,
            exit: Mutex::new(None),
            usage: Mutex::new(None),
        }
    }

    /// Readable once the child has ended (Python's `sentinel`): its pidfd.
    pub(crate) fn sentinel(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    pub(crate) fn is_ours(&self) -> bool {
        self.owner == state::pid()
    }

    /// The exit code if the child has ended (reaping it), without blocking.
    pub(crate) fn poll_exit(&self) -> io::Result<Option<i32>> {
        let mut exit = self.exit.lock().unwrap_or_else(PoisonError::into_inner);
        if exit.is_none() {
            let ended = sys::rusage::reap(self.pidfd.as_fd())?;
            if let Some((code, used)) = ended {
                *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = Some(used);
                *exit = Some(code);
                log::debug!(
                    target: "mp::process",
                    "{} (pid {}) ended with exitcode {code}",
                    self.name,
                    self.pid
                );
            }
        }
        Ok(*exit)
    }

    /// What the child used, once it has ended (and been reaped).
    pub(crate) fn usage(&self) -> Option<ResourceUsage> {
        let _ = self.poll_exit();
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the child to end, up to `timeout` (`None`: forever).
    ///
    /// It sleeps at once, without the short spin of `mp_pipe::wait`: a
    /// process takes far longer to end than a spin lasts, and on a machine
    /// with few cores the spinning parent could hold the core the child
    /// needs to finish.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<i32>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if let Some(code) = *self.exit.lock().unwrap_or_else(PoisonError::into_inner) {
            return Ok(Some(code));
        }
        loop {
            // The pidfd is readable from the exit on: sleep (or find it
            // readable at once), then reap; no reap attempt before it.
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let readable = sleep_until_readable(self.sentinel(), left)?;
            if let Some(code) = self.poll_exit()? {
                return Ok(Some(code));
            }
            if !readable {
                return Ok(None);
            }
        }
    }

    /// Sends `signal` unless the child has already ended.
    pub(crate) fn signal(&self, signal: Signal) -> io::Result<()> {
        if self.poll_exit()?.is_some() {
            return Ok(());
        }
        match rustix::process::pidfd_send_signal(&self.pidfd, signal) {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Sleeps until `fd` is readable (true) or `timeout` passes (false).
fn sleep_until_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timespec = left.map(|l| Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, timespec.as_ref()) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

static CHILDREN: PerProcess<Mutex<Vec<Arc<Child>>>> = PerProcess::new();

fn lock() -> MutexGuard<'static, Vec<Arc<Child>>> {
    state::lock(CHILDREN.get(|| Mutex::new(Vec::new())))
}

/// Records a started child; forgets children that have been reaped.
pub(crate) fn register(child: Arc<Child>) {
    let mut children = lock();
    prune(&mut children);
    children.push(child);
}

/// Drops finished children (reaping them, so none stays a zombie).
fn prune(children: &mut Vec<Arc<Child>>) {
    children.retain(|c| c.is_ours() && matches!(c.poll_exit(), Ok(None)));
}

/// The children of this process that are still running; finished ones are
/// reaped on the way.
pub(crate) fn active() -> Vec<Arc<Child>> {
    let mut children = lock();
    prune(&mut children);
    children.clone()
}

/// Takes every child this process recorded (and started itself).
///
/// Inline: a process that never started a child (a new child at its exit)
/// then looks at one static, in its caller's page of code, and has no page
/// of this function to map.
#[inline]
pub(crate) fn take_ours() -> Vec<Arc<Child>> {
    // A process that never started a child has no list: none is made
    // just to be emptied (in a forked child, that would be pages to copy).
    match CHILDREN.peek() {
        None => Vec::new(),
        Some(children) => take_from(children),
    }
}

fn take_from(children: &Mutex<Vec<Arc<Child>>>) -> Vec<Arc<Child>> {
    let children = std::mem::take(&mut *state::lock(children));
    children.into_iter().filter(|c| c.is_ours()).collect()
}
