//! What a parent hands a re-executed or forkserver child: the job (its
//! identity, entry point and arguments), the first message such a child
//! reads, and what running a job in the child takes.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use mp_handle::Fd;
use mp_pipe::{Address, Connection};
use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

use crate::current::{self, ChildRecord, Identity};
use crate::payload::EntryArgs;
use crate::sys::code::{CodeRef, SealedCodeRef};

/// The first message a re-executed child reads.
#[derive(Serialize, Deserialize)]
pub(crate) enum Bootstrap {
    /// Run a process body.
    Run(Job),
    /// Become the forkserver.
    Forkserver(ForkserverSetup),
}

/// What a new forkserver is told: where to listen, and the key its
/// clients authenticate with.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ForkserverSetup {
    pub(crate) address: Address,
    pub(crate) authkey: Vec<u8>,
}

/// A process body and everything the child needs to run it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) identity: Identity,
    /// The entry point: a `payload::EntryFn`, sealed by the parent.
    pub(crate) entry: SealedCodeRef,
    pub(crate) args: Vec<u8>,
    pub(crate) fds: Vec<Fd>,
    /// Where a `JoinHandle`'s result goes.
    pub(crate) result: Option<Fd>,
}

/// What a child runs, once its record (made from the job's identity) is
/// set apart.
pub(crate) struct Body {
    entry: SealedCodeRef,
    args: Vec<u8>,
    fds: Vec<Fd>,
    result: Option<Fd>,
}

impl Job {
    /// Splits the job into the child's record and what it runs. A
    /// forkserver does this before it forks: its child installs a record
    /// made for it instead of allocating one (each page a forked child
    /// writes is a page the kernel copies; the allocator's are several).
    pub(crate) fn prepare(self) -> (ChildRecord, Body) {
        let Job {
            identity,
            entry,
            args,
            fds,
            result,
        } = self;
        let body = Body {
            entry,
            args,
            fds,
            result,
        };
        (ChildRecord::new(identity), body)
    }
}

/// Runs a prepared job in this process (a re-executed child, or a
/// forkserver child) and returns its exit code.
pub(crate) fn run_prepared(record: ChildRecord, body: Body) -> i32 {
    current::become_prepared(record);
    ensure_panic_banner();
    // SIGINT ends the child with 1, as `KeyboardInterrupt` would.
    crate::sys::interrupt::exit_1_on_sigint();
    // Opened under the authkey the job just installed: the parent sealed
    // the entry with the same key.
    let entry = match CodeRef::<EntryArgs, i32>::open(&body.entry) {
        Ok(entry) => entry.get(),
        Err(e) => {
            eprintln!("mp: the child cannot run its entry point: {e}");
            return 1;
        }
    };
    let fds: Vec<OwnedFd> = body.fds.into_iter().map(Fd::into_owned).collect();
    let result = body
        .result
        .map(|fd| Connection::from(UnixStream::from(fd.into_owned())));
    entry(EntryArgs {
        bytes: body.args,
        fds,
        result,
    })
}

/// Checks the job's entry point in this thread under the job's key, so
/// that a child forked from here finds it checked (see `run_prepared`). A
/// forkserver calls this before it forks: its children start sooner,
/// each by an HMAC. A wrong entry point is left for the child to refuse.
pub(crate) fn check_entry(job: &Job) {
    let _ = CodeRef::<EntryArgs, i32>::open_under(&job.entry, &job.identity.authkey);
}

/// Makes this process die with `parent` (the thread that forked it lives as
/// long as that process). Fails if the parent is already gone. Inline (two
/// system calls rustix makes inline): a new child maps no page for it.
#[inline]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(_: EntryArgs) -> i32 {
        42
    }

    fn doubles(x: u8) -> u8 {
        2 * x
    }

    fn job(entry: SealedCodeRef) -> Job {
        Job {
            identity: current::with(|c| c.identity_for("job-test", &[1], false)),
            entry,
            args: Vec::new(),
            fds: Vec::new(),
            result: None,
        }
    }

    /// Runs a job with the right entry point and one with a reference
    /// sealed for another type. In a child of its own: `run_prepared`
    /// makes the process it runs in the job's child.
    fn run_two_jobs() -> (i32, i32) {
        let entry = CodeRef::new(answers as crate::payload::EntryFn).seal();
        let other = CodeRef::new(doubles as fn(u8) -> u8).seal();
        let run = |job: Job| {
            let (record, body) = job.prepare();
            run_prepared(record, body)
        };
        (run(job(entry)), run(job(other)))
    }

    #[test]
    fn a_job_runs_its_sealed_entry_and_refuses_any_other() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let codes = crate::context::Context::new(crate::method::StartMethod::Spawn)
            .spawn(run_two_jobs, ())
            .unwrap()
            .join()
            .unwrap();
        // The other reference is not an entry point: the child refuses it
        // (exit code 1) instead of calling `doubles` with an `EntryArgs`.
        assert_eq!(codes, (42, 1));
    }
}
