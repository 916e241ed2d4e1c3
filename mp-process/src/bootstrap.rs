//! The child's side of a start: what a re-executed (spawn) or forkserver
//! child does from its first instruction to its exit.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;

use mp_pipe::Connection;
use rustix::process::Pid;

use crate::exit::{self, Exit};
use crate::job::{self, Bootstrap};
use crate::{forkserver, sys};

/// Entry from the start-up hook, before `main`: never returns.
pub(crate) fn child_main(parent: Option<OsString>) -> ! {
    sys::ignore_sigpipe();
    // Die with the parent from now on; one already gone wants nothing from us.
    let parent = parent
        .and_then(|p| p.to_str()?.parse::<i32>().ok())
        .and_then(Pid::from_raw);
    match parent {
        Some(parent) if job::die_with_parent(parent).is_ok() => {}
        _ => fail("the parent is gone (or did not say who it is)"),
    }
    let conn = match sys::take_bootstrap_stdin() {
        Ok(fd) => Connection::from(UnixStream::from(fd)),
        Err(e) => fail(&format!("cannot open the bootstrap descriptor: {e}")),
    };
    let ((record, body), how) = match conn.recv::<Bootstrap>() {
        Ok(Bootstrap::Run(job)) => {
            drop(conn);
            (job.prepare(), Exit::Normally)
        }
        // Serves until its parent leaves; returns only in a forked child,
        // which leaves as CPython's do (see `Exit::AfterHandlers`).
        Ok(Bootstrap::Forkserver(setup)) => (forkserver::serve(conn, setup), Exit::AfterHandlers),
        Err(e) => fail(&format!("cannot read the bootstrap message: {e}")),
    };
    let code = job::run_prepared(record, body);
    exit::finish(code, how)
}

fn fail(message: &str) -> ! {
    eprintln!("mp: child start-up failed: {message}");
    sys::exit_now(1)
}
