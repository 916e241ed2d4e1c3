//! `Process`: a child process built from a function, a value with `run`
//! or a closure, started with a start method, then joined or signalled.

use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mp_handle::Fd;
use mp_pipe::Waitable;
use rustix::process::Signal;

use crate::children::{self, Child};
use crate::error::{Error, Result};
use crate::job::Job;
use crate::method::StartMethod;
use crate::payload::{Call, Closure, Payload, RunValue};
use crate::rusage::ResourceUsage;
use crate::sys::code::CodeRef;
use crate::target::{Args, Run, Target};
use crate::{current, exit, fork, forkserver, reexec};

/// A child process (Python's `multiprocessing.Process`).
///
/// Build it with [`Process::new`] (a function and its arguments),
/// [`Process::from_run`] (a value with a `run` method, like a Python
/// subclass) or [`Process::from_closure`] (a capturing closure, `Fork`
/// only); configure it with [`name`](Process::name),
/// [`daemon`](Process::daemon) and [`start_method`](Process::start_method);
/// then [`start`](Process::start) and [`join`](Process::join) it.
///
/// Exit codes are Python's: 0 when the function returns, 1 when it panics
/// (the message goes to the child's stderr), `n` after `exit(n)`, and
/// `-signal` when a signal killed it.
///
/// The arguments are moved into the process and dropped in this process
/// once the child has them: a `Connection` end given to a child is closed
/// here, as Python code closes it by hand. Clone shared objects (`Value`,
/// `Queue`, ...) you want to keep using.
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
///
/// fn greet(name: String, times: u32) {
///     for _ in 0..times {
///         println!("hello {name}");
///     }
/// }
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(process), "::Error> {")]
/// let mut p = Process::new(greet, ("bob".to_string(), 2)).name("greeter");
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(())
/// # }
/// ```
pub struct Process {
    name: String,
    daemon: bool,
    /// Terminated at this process's exit like a daemon, without being one.
    terminate_at_exit: bool,
    method: Option<StartMethod>,
    ident: Vec<u32>,
    payload: Option<Box<dyn Payload>>,
    /// A `JoinHandle`'s end of the result channel, handed to the child.
    pub(crate) result: Option<OwnedFd>,
    child: Option<Arc<Child>>,
    closed: bool,
}

impl Process {
    /// A process that will run `target(args...)`; `args` is a tuple
    /// (`()`, `(a,)`, `(a, b)`, ...) of serde values.
    ///
    /// `target` must be a `fn` item or a closure that captures nothing
    /// (checked when the program is built; see [`Target`] for which
    /// mistakes `cargo check` sees), so the child finds it in its own copy of the
    /// program under every start method. Its return value is dropped; use
    /// [`spawn`](crate::spawn) to get it back.
    pub fn new<F: Target<A>, A: Args>(target: F, args: A) -> Process {
        let () = mp_internal::CapturesNothing::<F>::CHECK;
        Process::with_payload(Box::new(Call { f: target, args }))
    }

    /// A process that will call `body.run()` (Python's `Process` subclass
    /// with its own `run`). `body` travels to the child as serde data.
    pub fn from_run<T: Run>(body: T) -> Process {
        Process::with_payload(Box::new(RunValue(body)))
    }

    /// A process that will run a capturing closure. Only the `Fork` start
    /// method can do this (the closure is not data that can be sent);
    /// starting it with another method is [`Error::ClosureNeedsFork`].
    pub fn from_closure<C: FnOnce() + Send + 'static>(body: C) -> Process {
        Process::with_payload(Box::new(Closure(body))).start_method(StartMethod::Fork)
    }

    pub(crate) fn with_payload(payload: Box<dyn Payload>) -> Process {
        let (name, ident, daemon) = current::with(|c| {
            let (name, ident) = c.next_child();
            (name, ident, current::current_daemon(c))
        });
        Process {
            name,
            daemon,
            terminate_at_exit: false,
            method: None,
            ident,
            payload: Some(payload),
            result: None,
            child: None,
            closed: false,
        }
    }

    pub(crate) fn from_child(child: Arc<Child>) -> Process {
        Process {
            name: child.name.clone(),
            daemon: child.daemon,
            terminate_at_exit: false,
            method: Some(child.method),
            ident: child.ident.clone(),
            payload: None,
            result: None,
            child: Some(child),
            closed: false,
        }
    }

    /// Sets the name (default `Process-N`).
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Makes the process a daemon: it is terminated when this process exits
    /// instead of being waited for (default: the creating process's flag).
    pub fn daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// Terminates the process when this process exits, as a daemon is,
    /// while it stays a non-daemon that may start children: for mp's own
    /// servers (a manager's server process may start processes, as in
    /// CPython, where a finalizer shuts the manager down at exit). Not
    /// part of Python's API.
    #[doc(hidden)]
    pub fn terminate_at_exit(mut self, yes: bool) -> Process {
        self.terminate_at_exit = yes;
        self
    }

    /// Uses `method` instead of the default start method.
    pub fn start_method(mut self, method: StartMethod) -> Process {
        self.method = Some(method);
        self
    }

    /// The process's name (Python's `p.name`).
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Renames the process; the child sees the new name only if it is set
    /// before `start`.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Whether the process is a daemon (Python's `p.daemon`).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Sets the daemon flag (Python's `p.daemon = True`); only before `start`.
    pub fn set_daemon(&mut self, daemon: bool) -> Result<()> {
        if self.child.is_some() {
            return Err(Error::AlreadyStarted);
        }
        self.daemon = daemon;
        Ok(())
    }

    /// The start method this process uses (or will use).
    pub fn get_start_method(&self) -> StartMethod {
        self.method.unwrap_or_else(current::default_method)
    }

    /// Starts the child. Starting twice is [`Error::AlreadyStarted`]; a
    /// daemon starting a child is [`Error::DaemonCannotStartChildren`], as
    /// in Python.
    pub fn start(&mut self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        let Some(payload) = &self.payload else {
            return Err(Error::AlreadyStarted);
        };
        if current::with(|c| current::current_daemon(c)) {
            return Err(Error::DaemonCannotStartChildren);
        }
        let method = self.get_start_method();
        let mut identity = current::with(|c| c.identity_for(&self.name, &self.ident, self.daemon));
        // As in CPython, a child's default is the method it was started
        // with, whatever its parent's default.
        identity.method = method;
        let child = match method {
            StartMethod::Fork => {
                let payload = self.payload.take().expect("checked above");
                fork::start(identity, payload, self.result.take())?
            }
            StartMethod::Spawn | StartMethod::Forkserver => {
                let encoded = payload.encode()?;
                let job = Job {
                    identity,
                    entry: CodeRef::new(encoded.entry).seal(),
                    args: encoded.bytes,
                    fds: encoded.fds.into_iter().map(Fd::from).collect(),
                    result: self.result.take().map(Fd::from),
                };
                let child = if method == StartMethod::Spawn {
                    reexec::start(job)?
                } else {
                    forkserver::start(job)?
                };
                // The child has its own copies of the arguments' handles now.
                self.payload = None;
                child
            }
        };
        if self.terminate_at_exit {
            child.terminate_at_exit.store(true, Ordering::Relaxed);
        }
        exit::track(child.clone());
        self.child = Some(child);
        Ok(())
    }

    /// Waits for the child to end and returns its exit code.
    pub fn join(&self) -> Result<i32> {
        Ok(self
            .started()?
            .wait(None)?
            .expect("waiting without a timeout ends with an exit code"))
    }

    /// Waits up to `timeout`; `None` if the child is still running.
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>> {
        Ok(self.started()?.wait(Some(timeout))?)
    }

    /// Whether the child has started and not yet ended.
    pub fn is_alive(&self) -> bool {
        self.started()
            .is_ok_and(|c| matches!(c.poll_exit(), Ok(None)))
    }

    /// The exit code once the child has ended (Python's `exitcode`): `None`
    /// while it runs or before it starts.
    pub fn exitcode(&self) -> Option<i32> {
        self.started()
            .ok()
            .and_then(|c| c.poll_exit().ok().flatten())
    }

    /// What the child used (CPU time, peak memory) once it has ended
    /// (Python reads it from `os.wait4`): `None` before. Every child is this
    /// process's own (the forkserver's too), so once joined it also counts
    /// in `getrusage(RUSAGE_CHILDREN)` and the shell's `time`.
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
    ///
    /// fn work() {
    ///     let _: u64 = (0..1_000_000u64).map(std::hint::black_box).sum();
    /// }
    ///
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(process), "::Error> {")]
    /// let mut p = Process::new(work, ());
    /// p.start()?;
    /// p.join()?;
    /// let used = p.rusage().expect("a joined child's usage");
    /// println!("the child used {:?} of CPU, {} bytes at most", used.cpu_time(), used.max_rss());
    /// # Ok(())
    /// # }
    /// ```
    pub fn rusage(&self) -> Option<ResourceUsage> {
        self.started().ok().and_then(|c| c.usage())
    }

    /// The child's process id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().filter(|_| !self.closed).map(|c| c.pid)
    }

    /// A descriptor that becomes readable when the child ends (Python's
    /// `sentinel`); the process itself can also be passed to
    /// [`mp_pipe::wait`].
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>> {
        Ok(self.started()?.sentinel())
    }

    /// Sends SIGTERM (exit code -15 unless the child handles it).
    pub fn terminate(&self) -> Result<()> {
        Ok(self.started()?.signal(Signal::TERM)?)
    }

    /// Sends SIGKILL (exit code -9).
    pub fn kill(&self) -> Result<()> {
        Ok(self.started()?.signal(Signal::KILL)?)
    }

    /// Sends SIGINT (Python's `interrupt()`, new in 3.14).
    ///
    /// A CPython child gets a `KeyboardInterrupt` and, unless it catches
    /// it, exits with code 1; one that restored SIGINT's default action
    /// dies of the signal (-2). An mp child exits with 1 too: before its
    /// target runs, mp gives it a SIGINT handler that ends it with
    /// `_exit(1)`, if SIGINT has its default action there (a child of a
    /// process that ignores SIGINT ignores it too). What the child sets up
    /// itself wins:
    ///
    /// - a handler of its own (`signal-hook`, `ctrlc`, tokio, mp's `Pool`
    ///   in that child, or `sigaction`) runs instead, and the child goes
    ///   on; mp's handler, if the new one chains to it as signal-hook
    ///   does, sees that it is no longer SIGINT's action and does nothing;
    /// - `SIG_DFL` restored: the child dies of the signal, -2;
    /// - `SIG_IGN`: the child keeps running.
    ///
    /// Unlike CPython's, the exit is immediate: output still buffered in
    /// the child (a line not yet ended on Rust's line-buffered stdout) is
    /// lost, as flushing is not safe in a signal handler, and the child's
    /// own children are not joined: their parent-death signal ends them.
    /// A `Fork` or `Forkserver` child holds SIGINT back until its handler
    /// is in place, so `interrupt()` right after `start()` gives 1 too; a
    /// `Spawn` child interrupted before it has set up (while the program
    /// is loaded) meets the default action, -2, as a CPython `spawn` child
    /// whose interpreter has not started yet does.
    ///
    /// ```
    #[doc = concat!("use ", crate::mp_crate!(pipe), "::{Connection, pipe};")]
    #[doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
    ///
    /// fn sleeps(ready: Connection) {
    ///     ready.send(&()).unwrap();
    ///     std::thread::sleep(std::time::Duration::from_secs(60));
    /// }
    ///
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(process), "::Error> {")]
    /// let (ready, theirs) = pipe()?;
    /// let mut p = Process::new(sleeps, (theirs,));
    /// p.start()?;
    /// ready.recv::<()>()?;
    /// p.interrupt()?;
    /// assert_eq!(p.join()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn interrupt(&self) -> Result<()> {
        Ok(self.started()?.signal(Signal::INT)?)
    }

    /// Releases the handle (Python's `close`). Closing a running process is
    /// [`Error::StillRunning`]; afterwards every call but `close` fails with
    /// [`Error::Closed`].
    pub fn close(&mut self) -> Result<()> {
        if self.is_alive() {
            return Err(Error::StillRunning);
        }
        self.closed = true;
        self.child = None;
        self.payload = None;
        Ok(())
    }

    fn started(&self) -> Result<&Arc<Child>> {
        if self.closed {
            return Err(Error::Closed);
        }
        let child = self.child.as_ref().ok_or(Error::NotStarted)?;
        if child.is_ours() {
            Ok(child)
        } else {
            Err(Error::NotOurChild)
        }
    }
}

/// The children of this process that are still running (Python's
/// `active_children()`); finished ones are reaped on the way.
pub fn active_children() -> Vec<Process> {
    children::active()
        .into_iter()
        .map(Process::from_child)
        .collect()
}

impl<T: Run> From<T> for Process {
    fn from(body: T) -> Process {
        Process::from_run(body)
    }
}

impl Waitable for Process {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.sentinel().ok()
    }
}

impl fmt::Debug for Process {
    /// Like Python's repr: `Process { name: "Process-1", pid: 123, state: "started" }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.closed {
            "closed".to_owned()
        } else {
            match (&self.child, self.exitcode()) {
                (None, _) => "initial".to_owned(),
                (Some(_), None) => "started".to_owned(),
                (Some(_), Some(code)) => format!("stopped (exitcode {code})"),
            }
        };
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("daemon", &self.daemon)
            .field("state", &state)
            .finish()
    }
}
