//! Who this process is: `current_process()`, `parent_process()`, and the
//! identity a parent hands to each child.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags};
use serde::{Deserialize, Serialize};

use crate::method::StartMethod;
use crate::state::{self, PerProcess, pid};

/// What a child is told about itself by its parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) ident: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) authkey: Vec<u8>,
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
    /// The child's default start method: the one it is started with
    /// (`Process::start` sets it; the parent's default until then).
    pub(crate) method: StartMethod,
    /// The parent's mp log level, and whether it logs to stderr.
    pub(crate) log: crate::logging::Inherited,
}

/// A parent's pidfd, `None` if the parent was gone when it was opened.
type ParentFd = Option<Arc<OwnedFd>>;

/// This process's own record.
pub(crate) struct Current {
    /// This process's id.
    owner: u32,
    name: String,
    ident: Vec<u32>,
    daemon: bool,
    authkey: Vec<u8>,
    /// The parent's pid and name, and its pidfd once `parent_process`
    /// asked for it (`Some(None)`: it was gone by then).
    parent: Option<(u32, String, Option<ParentFd>)>,
    /// Children created so far (Python's `_process_counter`).
    counter: u32,
    pub(crate) method: StartMethod,
    pub(crate) method_set: bool,
}

static CURRENT: PerProcess<Mutex<Current>> = PerProcess::new();

/// This process's record, `MainProcess` unless it was started as a child.
fn record() -> &'static Mutex<Current> {
    CURRENT.get(|| {
        Mutex::new(Current {
            owner: pid(),
            name: "MainProcess".to_owned(),
            ident: Vec::new(),
            daemon: false,
            authkey: mp_pipe::random_authkey(),
            parent: None,
            counter: 0,
            method: StartMethod::default(),
            method_set: false,
        })
    })
}

fn lock() -> MutexGuard<'static, Current> {
    state::lock(record())
}

/// Runs `f` on this process's record.
pub(crate) fn with<R>(f: impl FnOnce(&mut Current) -> R) -> R {
    f(&mut lock())
}

/// A child's record made before it exists: a forked child installs it
/// with [`become_prepared`] without allocating (each page a forked child
/// writes is a page the kernel copies; the allocator's are several).
pub(crate) struct ChildRecord {
    record: state::Prepared<Mutex<Current>>,
    log: crate::logging::Inherited,
}

impl ChildRecord {
    pub(crate) fn new(identity: Identity) -> ChildRecord {
        ChildRecord {
            record: state::Prepared::new(Mutex::new(Current {
                // Set by `become_prepared`, in the child.
                owner: 0,
                name: identity.name,
                ident: identity.ident,
                daemon: identity.daemon,
                authkey: identity.authkey,
                parent: Some((identity.parent_pid, identity.parent_name, None)),
                counter: 0,
                method: identity.method,
                method_set: false,
            })),
            log: identity.log,
        }
    }
}

/// Makes a record prepared by the parent this process's record (a child
/// starting). Inline: a `Fork` child runs it in the page of code it is
/// already in, instead of mapping one more.
#[inline]
pub(crate) fn become_prepared(child: ChildRecord) {
    let ChildRecord { mut record, log } = child;
    record
        .get_mut()
        .get_mut()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .owner = pid();
    CURRENT.install(record);
    crate::logging::inherit(log);
    log::info!(target: "mp::process", "child process calling self.run()");
}

impl Current {
    pub(crate) fn authkey(&self) -> &[u8] {
        &self.authkey
    }

    /// The identity of this process's next child (Python numbers children at
    /// construction: `Process-3`, or `Process-1:3` inside `Process-1`).
    pub(crate) fn next_child(&mut self) -> (String, Vec<u32>) {
        self.counter += 1;
        let mut ident = self.ident.clone();
        ident.push(self.counter);
        let numbers: Vec<String> = ident.iter().map(u32::to_string).collect();
        (format!("Process-{}", numbers.join(":")), ident)
    }

    pub(crate) fn identity_for(&self, name: &str, ident: &[u32], daemon: bool) -> Identity {
        Identity {
            name: name.to_owned(),
            ident: ident.to_vec(),
            daemon,
            authkey: self.authkey.clone(),
            parent_pid: self.owner,
            parent_name: self.name.clone(),
            method: self.method,
            log: crate::logging::inherited(),
        }
    }
}

/// The default start method of this process (see `set_start_method`).
pub(crate) fn default_method() -> StartMethod {
    with(|c| c.method)
}

/// The daemon flag a new `Process` inherits (Python copies the creator's).
pub(crate) fn current_daemon(c: &Current) -> bool {
    c.daemon
}

/// This process, as Python's `multiprocessing.current_process()` shows it.
#[derive(Clone, Debug)]
pub struct CurrentProcess {
    name: String,
    pid: u32,
    ident: Vec<u32>,
    daemon: bool,
    authkey: Vec<u8>,
}

impl CurrentProcess {
    /// `MainProcess` in the main process, `Process-N` (or the name given to
    /// the `Process`) in a child.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This process's id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The position in the process tree: `[]` for the main process, `[1, 2]`
    /// for `Process-1:2` (Python's `_identity`).
    pub fn ident(&self) -> &[u32] {
        &self.ident
    }

    /// Whether this process was started as a daemon.
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// The process's authkey: random in the main process and inherited by
    /// children (the default key of managers and listeners).
    pub fn authkey(&self) -> &[u8] {
        &self.authkey
    }
}

/// The process this code runs in (Python's `current_process()`).
pub fn current_process() -> CurrentProcess {
    with(|c| CurrentProcess {
        name: c.name.clone(),
        pid: c.owner,
        ident: c.ident.clone(),
        daemon: c.daemon,
        authkey: c.authkey.clone(),
    })
}

/// This process's name if it is a child (for panic reports); `None` in the
/// main process, or if the record is busy (a panic must never wait).
pub(crate) fn child_name() -> Option<String> {
    let current = CURRENT.peek()?.try_lock().ok()?;
    current.parent.is_some().then(|| current.name.clone())
}

/// Renames this process (Python's `current_process().name = ...`).
pub fn set_current_name(name: impl Into<String>) {
    with(|c| c.name = name.into());
}

/// The process that started this one (Python's `parent_process()`); `None`
/// in the main process.
pub fn parent_process() -> Option<ParentProcess> {
    with(|c| {
        c.parent.as_mut().map(|(pid, name, pidfd)| ParentProcess {
            pid: *pid,
            name: name.clone(),
            pidfd: pidfd.get_or_insert_with(|| open_parent(*pid)).clone(),
        })
    })
}

/// A pidfd of this process's parent `pid`, opened when first asked for
/// (not at every child's start): `None` if the parent is gone. The parent
/// of a process of mp is its OS parent under every start method, and a
/// pid is not reused while its process is someone's parent: so a pidfd
/// opened while `getppid()` names `pid`, before and after, is the parent's.
fn open_parent(pid: u32) -> ParentFd {
    let ours =
        || rustix::process::getppid().is_some_and(|p| p.as_raw_nonzero().get() as u32 == pid);
    if !ours() {
        return None;
    }
    let fd = rustix::process::pidfd_open(Pid::from_raw(pid as i32)?, PidfdFlags::empty()).ok()?;
    ours().then(|| Arc::new(fd))
}

/// The parent of this process, as returned by [`parent_process`].
#[derive(Clone, Debug)]
pub struct ParentProcess {
    pid: u32,
    name: String,
    pidfd: Option<Arc<OwnedFd>>,
}

impl ParentProcess {
    /// The parent's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The parent's name (`MainProcess` for a first-level child).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the parent is still running.
    pub fn is_alive(&self) -> bool {
        !self.wait_exit(Some(Duration::ZERO))
    }

    /// Waits up to `timeout` for the parent to exit; true if it did.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.wait_exit(Some(timeout))
    }

    fn wait_exit(&self, timeout: Option<Duration>) -> bool {
        match &self.pidfd {
            // A pidfd turns readable when its process exits.
            Some(fd) => mp_pipe::wait(&[&fd.as_fd()], timeout).is_ok_and(|ready| !ready.is_empty()),
            // Its pidfd could not be opened: it was already gone.
            None => true,
        }
    }
}

/// The number of CPUs this process may run on (Python's `cpu_count()`,
/// honouring affinity masks and cgroup quotas like `os.process_cpu_count()`).
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
