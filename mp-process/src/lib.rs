//! Processes: Python's `multiprocessing.Process` for Rust programs.
//!
//! | Python | mp-process |
//! |---|---|
//! | `Process(target=f, args=(a, b), name=n, daemon=d)` | [`Process::new(f, (a, b))`](Process::new)`.name(n).daemon(d)` |
//! | subclass with `run()` | a type implementing [`Run`], [`Process::from_run`] |
//! | `p.start()`, `p.join(timeout)` | [`start`](Process::start), [`join`](Process::join), [`join_timeout`](Process::join_timeout) |
//! | `p.is_alive()`, `terminate()`, `kill()`, `interrupt()`, `close()` | same names |
//! | `p.pid`, `p.exitcode`, `p.name`, `p.daemon`, `p.sentinel` | [`pid`](Process::pid), [`exitcode`](Process::exitcode), [`get_name`](Process::get_name), [`is_daemon`](Process::is_daemon), [`sentinel`](Process::sentinel) |
//! | `current_process()`, `parent_process()`, `active_children()`, `cpu_count()` | same names |
//! | `set_start_method(m)`, `get_context(m)` | [`set_start_method`], [`get_context`], [`Context`], [`StartMethod`] |
//! | `set_executable(path)` | [`set_executable`] (the same program at another path) |
//! | `os.wait4(pid)`'s resource usage | [`p.rusage()`](Process::rusage) after `join` → [`ResourceUsage`] (counts forkserver children too) |
//! | — | [`spawn`]: a `JoinHandle` whose `join()` returns the function's value |
//! | `log_to_stderr(level)`, `get_logger()` | [`log_to_stderr`], [`get_logger`]: mp's events through the [`log`] facade, inherited by children |
//!
//! # How a child finds its function
//!
//! A target is a plain `fn` (or a closure that captures nothing) and its
//! arguments are serde values. Under `Fork` the child simply calls it.
//! Under `Spawn` and `Forkserver` the child is a fresh copy of this binary:
//! the parent sends the address of a typed entry point (as an offset, so
//! address-space randomisation does not matter, with an HMAC tag keyed by
//! the process tree's authkey that binds it to its type) and the encoded
//! arguments.
//! A start-up hook that runs before `main` receives them, so neither a
//! program's `main` nor libtest ever sees a child start: a plain `fn main`
//! and a plain `#[test]` need no `init()` call.
//!
//! Arguments that hold OS handles (`Connection`, `Queue`, shared `Value`,
//! locks, `SharedMemory`) travel with them under every start method.
//!
//! # Better than CPython
//!
//! - The default start method (`Forkserver`, as in CPython 3.14) is safe in
//!   threaded programs; `Fork` with other threads alive prints a warning.
//! - Children never outlive their parent: every child gets a parent-death
//!   signal (children are forked from a thread that lives as long as the
//!   process), so even a SIGKILLed parent leaves no orphans.
//! - A forkserver child is the child of the process that asked for it, not
//!   of the forkserver: killing the forkserver (or the OOM killer taking
//!   it) leaves running children alone, and the next start starts a new
//!   forkserver. In CPython they die with it.
//! - At normal exit daemonic children are terminated and the others joined,
//!   as in Python; children are always reaped, never left as zombies.
//!
//! # Example
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(process), "::{Process, current_process};")]
//!
//! fn task(name: String) {
//!     println!("Task {name} running in process {}", current_process().pid());
//! }
//!
#![doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(process), "::Error> {")]
//! let mut p1 = Process::new(task, ("A".to_string(),));
//! let mut p2 = Process::new(task, ("B".to_string(),));
//! p1.start()?;
//! p2.start()?;
//! p1.join()?;
//! p2.join()?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_process` in this
// crate's own docs, `mp::process` where the facade renders them.
mp_internal::doc_crate_paths!();

// Grouped in the order of dependence: a module uses only modules of its
// own group or of the groups above it (sys::start_up, the hook that runs
// before `main`, is the one exception: it calls bootstrap, the top).
// The bottom: what a process is and what the OS offers.
mod error;
mod method;
mod state;
mod sys;
mod target;
// This process, its children, and what a child is handed.
mod children;
mod current;
mod job;
mod logging;
mod payload;
mod remote;
mod rusage;
// The start methods and how a process ends.
mod executable;
mod exit;
mod fork;
mod forkserver;
mod reexec;
mod starter;
// The public faces, then the child's side of a start.
mod bootstrap;
mod context;
mod join_handle;
mod process;

pub use context::{
    Context, get_all_start_methods, get_context, get_start_method, set_start_method,
    set_start_method_force,
};
pub use current::{
    CurrentProcess, ParentProcess, cpu_count, current_process, parent_process, set_current_name,
};
pub use error::{Error, JoinError, Result};
pub use executable::set_executable;
pub use join_handle::{JoinHandle, spawn};
/// The logging facade mp reports its events through (for `LevelFilter`).
pub use log;
pub use logging::{LOG_TARGET, Logger, get_logger, log_to_stderr};
pub use method::StartMethod;
pub use process::{Process, active_children};
pub use remote::{CallError, ErasedFn, RemoteFn, decode_results};
pub use rusage::ResourceUsage;
pub use state::pid;
pub use target::{Args, Run, Target};

/// The running forkserver's pid and listening address, if any. For tests
/// of forkserver restarts and authentication; not a stable API.
#[doc(hidden)]
pub fn forkserver_info() -> Option<(u32, mp_pipe::Address)> {
    forkserver::running_info()
}

/// Whether SIGINT's installed action is the one mp gives its children
/// (exit with code 1, as a CPython child's uncaught `KeyboardInterrupt`;
/// see [`Process::interrupt`]). For mp-pool, which takes SIGINT over in a
/// pool's process and keeps that exit outside blocking pool calls; not a
/// stable API.
#[doc(hidden)]
pub fn sigint_exits_with_1() -> bool {
    sys::interrupt::exits_with_1()
}
