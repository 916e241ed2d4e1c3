//! The child's side of a start: what a re-executed (spawn) or forkserver
//! child does from its first instruction to its exit.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use mp_handle::Fd;
use mp_pipe::Connection;
use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

use crate::current::Identity;
use crate::{children, current, forkserver, state, sys};

/// The first message a re-executed child reads.
#[derive(Serialize, Deserialize)]
pub(crate) enum Bootstrap {
    /// Run a process body.
    Run(Job),
    /// Become the forkserver.
    Forkserver(forkserver::Setup),
}

/// A process body and everything the child needs to run it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) identity: Identity,
    /// The entry point (a `sys::CodeRef` offset).
    pub(crate) entry: isize,
    pub(crate) args: Vec<u8>,
    pub(crate) fds: Vec<Fd>,
    /// Where a `JoinHandle`'s result goes.
    pub(crate) result: Option<Fd>,
}

/// How a finished child leaves.
pub(crate) enum Exit {
    /// `exit()`: a re-executed child has only its own exit handlers.
    Normally,
    /// `_exit()`: a forked child must not run its parent's exit handlers.
    Immediately,
}

/// Entry from the start-up hook, before `main`: never returns.
pub(crate) fn child_main(parent: Option<OsString>) -> ! {
    sys::ignore_sigpipe();
    // Die with the parent from now on; one already gone wants nothing from us.
    let parent = parent
        .and_then(|p| p.to_str()?.parse::<i32>().ok())
        .and_then(Pid::from_raw);
    match parent {
        Some(parent) if die_with_parent(parent).is_ok() => {}
        _ => fail("the parent is gone (or did not say who it is)"),
    }
    let conn = match sys::take_bootstrap_stdin() {
        Ok(fd) => Connection::from(UnixStream::from(fd)),
        Err(e) => fail(&format!("cannot open the bootstrap descriptor: {e}")),
    };
    match conn.recv::<Bootstrap>() {
        Ok(Bootstrap::Run(job)) => {
            drop(conn);
            let code = run_job(job);
            finish(code, Exit::Normally)
        }
        Ok(Bootstrap::Forkserver(setup)) => forkserver::serve(conn, setup),
        Err(e) => fail(&format!("cannot read the bootstrap message: {e}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("mp: child start-up failed: {message}");
    sys::exit_now(1)
}

/// Runs a job in this process (a re-executed child, or a forkserver child)
/// and returns its exit code.
pub(crate) fn run_job(job: Job) -> i32 {
    current::become_child(job.identity);
    ensure_panic_banner();
    // The job came from the parent that re-executed this binary, or from an
    // authenticated forkserver client running it: the offset is one of ours.
    let entry = sys::CodeRef::<crate::payload::EntryFn>::from_verified_offset(job.entry).get();
    let fds: Vec<OwnedFd> = job.fds.into_iter().map(Fd::into_owned).collect();
    let result = job
        .result
        .map(|fd| Connection::from(UnixStream::from(fd.into_owned())));
    entry(&job.args, fds, result)
}

/// Makes this process die with `parent` (the thread that forked it lives as
/// long as that process). Fails if the parent is already gone.
pub(crate) fn die_with_parent(parent: Pid) -> rustix::io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    if rustix::process::getppid() == Some(parent) {
        Ok(())
    } else {
        Err(rustix::io::Errno::SRCH)
    }
}

/// Prefixes a child's panic reports with its name, as CPython prints
/// `Process Process-1:` above a child's traceback.
///
/// Installed once per process: in a process about to fork, before the
/// fork, so that children inherit it instead of each allocating a hook of
/// its own (every page a forked child writes is a page to copy). It prints
/// only in processes that are children.
pub(crate) fn ensure_panic_banner() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(name) = current::child_name() {
                eprintln!("Process {name}:");
            }
            previous(info);
        }));
    });
}

/// Where a forkserver child reports its exit code (see `report_exit_to`),
/// and the process that may: a child forked from it inherits both, and
/// must not report its own code as its parent's.
static EXIT_REPORT: std::sync::OnceLock<(u32, OwnedFd)> = std::sync::OnceLock::new();

/// Makes `finish` write the exit code to `pipe` (a forkserver child's status
/// pipe) just before this process exits.
pub(crate) fn report_exit_to(pipe: OwnedFd) {
    let _ = EXIT_REPORT.set((state::pid(), pipe));
}

/// Leaves like a Python child: join this process's own children, flush
/// output, exit with `code`.
pub(crate) fn finish(code: i32, exit: Exit) -> ! {
    children::finish_all();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    if let Some((_, report)) = EXIT_REPORT
        .get()
        .filter(|(owner, _)| *owner == state::pid())
    {
        // Nobody may listen any more; the server's reaping reports it anyway.
        let _ = rustix::io::write(report, &code.to_le_bytes());
    }
    match exit {
        Exit::Normally => std::process::exit(code),
        Exit::Immediately => sys::exit_now(code),
    }
}
