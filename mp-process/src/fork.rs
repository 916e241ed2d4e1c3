//! The `Fork` start method: the child is a copy of this process and runs the
//! body directly (no encoding, so capturing closures work).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mp_pipe::Connection;
use rustix::process::{Pid, PidfdFlags};

use crate::children::Child;
use crate::current::Identity;
use crate::error::Result;
use crate::exit::{self, Exit};
use crate::method::StartMethod;
use crate::payload::Payload;
use crate::{current, job, starter, sys};

pub(crate) fn start(
    identity: Identity,
    payload: Box<dyn Payload>,
    result: Option<OwnedFd>,
) -> Result<Arc<Child>> {
    let child_identity = identity.clone();
    let pid = starter::run(move || fork_and_run(child_identity, payload, result))?;
    let pid_t = Pid::from_raw(pid as i32).expect("fork returned a positive pid");
    let pidfd = rustix::process::pidfd_open(pid_t, PidfdFlags::empty())?;
    Ok(Arc::new(Child::new(
        pid,
        pidfd,
        &identity,
        StartMethod::Fork,
    )))
}

/// Forks; the child runs `payload` and exits, the parent gets the pid.
fn fork_and_run(
    identity: Identity,
    payload: Box<dyn Payload>,
    result: Option<OwnedFd>,
) -> Result<u32> {
    let threaded = warn_if_threaded();
    job::ensure_panic_banner();
    // Half-written lines would be printed twice.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let parent = Pid::from_raw(crate::state::pid() as i32).expect("a pid is positive");
    let keep = payload.raw_fds();
    let record = current::ChildRecord::new(identity);
    // The registry of mp sockets is held across the fork (it is only ever
    // locked for an insert or a removal), so the child's copy is complete.
    // Everything else of mp's state is replaced in the child, not copied.
    let mut tracked = mp_internal::tracked::lock();
    // So are std's output locks when another thread could hold them: a
    // child forked while another thread was printing would otherwise find
    // them locked forever. (The forking thread goes on in the child, so it
    // can release them there too.) Alone, this thread holds neither, and
    // no thread can appear meanwhile: taking them would only write the
    // pages they are on in parent and child (a page copy each).
    let output = threaded.then(|| (std::io::stdout().lock(), std::io::stderr().lock()));
    // A SIGINT for the child waits until its handler is in place.
    let held = sys::interrupt::hold();
    let forked = sys::fork();
    if !matches!(forked, Ok(None)) {
        held.release();
    }
    drop(output);
    match forked? {
        Some(pid) => Ok(pid),
        None => {
            // Sockets of mp objects this child was not given must not stay
            // open here: their peers would never see end of file.
            if let Some(keep) = keep {
                tracked.release_all_except(&keep);
            }
            drop(tracked);
            current::become_prepared(record);
            if job::die_with_parent(parent).is_err() {
                sys::exit_now(1);
            }
            // SIGINT ends the child with 1, as `KeyboardInterrupt` would.
            sys::interrupt::exit_1_on_sigint();
            held.release();
            let result = result.map(|fd| Connection::from(UnixStream::from(fd)));
            let code = payload.run(result);
            exit::finish(code, Exit::Immediately)
        }
    }
}

/// Whether this process may have threads besides the calling one (it
/// may if procfs cannot say), warning once if one is not mp's. CPython
/// 3.12+ warns too: a lock held by another thread at the moment of the
/// fork stays locked forever in the child.
fn warn_if_threaded() -> bool {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let Ok(threads) = sys::thread_count() else {
        return true;
    };
    if threads > 1 && !WARNED.load(Ordering::Relaxed) {
        // This thread, plus the starter thread and the caller it is
        // serving, which hold nothing while they wait.
        let ours = 1 + usize::from(starter::exists()) + usize::from(starter::on_starter_thread());
        if threads > ours && !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "mp: warning: forking a process that has {threads} threads; a lock another \
                 thread holds at this moment stays locked forever in the child. Prefer \
                 StartMethod::Forkserver or StartMethod::Spawn in threaded programs."
            );
        }
    }
    threads > 1
}
