//! Re-executing this program: the child of `Spawn`, and the forkserver.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{BOOTSTRAP_ENV, PARENT_ENV};

/// Executes `binary` (this program: `/proc/self/exe`, or the same program
/// elsewhere, see `set_executable`) with `bootstrap` as the child's stdin,
/// and no other descriptor of this process but stdout and stderr: as
/// CPython's spawn and forkserver (`close_fds`), a descriptor
/// this process holds without close-on-exec (opened by a C library, or
/// made inheritable on purpose) is not open in the child.
///
/// The child asks to die with its parent itself, first thing, and checks
/// that the parent named in `MP_PARENT_PID` is still the one it has.
///
/// With glibc 2.34 or later this is one `posix_spawn` (a vfork: no copy of
/// this process's page tables) whose file actions close every descriptor
/// from 3 on (`posix_spawn_file_actions_addclosefrom_np`); elsewhere a
/// `Command` whose pre-exec hook marks them close-on-exec (a full fork).
pub(crate) fn spawn_self(binary: &Path, bootstrap: OwnedFd) -> io::Result<u32> {
    match addclosefrom_np() {
        Some(addclosefrom) => posix_spawn(binary, bootstrap, addclosefrom),
        None => command_spawn(binary, bootstrap),
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np`.
type AddCloseFrom =
    unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, libc::c_int) -> libc::c_int;

/// `posix_spawn_file_actions_addclosefrom_np`, if this C library has it
/// (looked up at run time: glibc before 2.34 and musl do not).
fn addclosefrom_np() -> Option<AddCloseFrom> {
    static FOUND: OnceLock<Option<AddCloseFrom>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only
        // looks the symbol up.
        let symbol = unsafe {
            libc::dlsym(
                libc::RTLD_DEFAULT,
                c"posix_spawn_file_actions_addclosefrom_np".as_ptr(),
            )
        };
        // SAFETY: glibc's symbol of this name has this signature.
        (!symbol.is_null())
            .then(|| unsafe { std::mem::transmute::<*mut libc::c_void, AddCloseFrom>(symbol) })
    })
}

/// `spawn_self` by `posix_spawn`.
fn posix_spawn(binary: &Path, bootstrap: OwnedFd, addclosefrom: AddCloseFrom) -> io::Result<u32> {
    let nul = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let path = CString::new(binary.as_os_str().as_bytes()).map_err(nul)?;
    let arg0 = std::env::args_os().next().unwrap_or_else(|| binary.into());
    let arg0 = CString::new(arg0.into_vec()).map_err(nul)?;
    let argv = [arg0.as_ptr(), std::ptr::null()];
    let mut env = Vec::new();
    for (key, value) in std::env::vars_os() {
        if key != BOOTSTRAP_ENV && key != PARENT_ENV {
            let mut pair = key.into_vec();
            pair.push(b'=');
            pair.extend(value.into_vec());
            env.push(CString::new(pair).map_err(nul)?);
        }
    }
    env.push(CString::new(format!("{BOOTSTRAP_ENV}=0")).map_err(nul)?);
    env.push(CString::new(format!("{PARENT_ENV}={}", std::process::id())).map_err(nul)?);
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|pair| pair.as_ptr()).collect();
    envp.push(std::ptr::null());
    // Above stdio, so the dup2 onto 0 always copies (a process whose stdin
    // is closed could get 0 for a new socket).
    let bootstrap = rustix::io::fcntl_dupfd_cloexec(&bootstrap, 3)?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and file-action objects are initialised before
    // use and destroyed after; every pointer passed (path, argv, envp, the
    // signal sets) is valid and NUL-terminated where required for the
    // whole call; the descriptors named are open.
    let rc = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_init(&mut attr);
        let mut rc = libc::posix_spawn_file_actions_adddup2(&mut actions, bootstrap.as_raw_fd(), 0);
        if rc == 0 {
            rc = addclosefrom(&mut actions, 3);
        }
        // As `Command`: no signal blocked, SIGPIPE back to its default.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::posix_spawnattr_setsigmask(&mut attr, &empty);
        libc::posix_spawnattr_setsigdefault(&mut attr, &pipe);
        let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short);
        if rc == 0 {
            rc = libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr().cast(),
                envp.as_ptr().cast(),
            );
        }
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        rc
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(pid as u32)
}

/// `spawn_self` by `Command`, where `posix_spawn` cannot close the
/// descriptors itself.
fn command_spawn(binary: &Path, bootstrap: OwnedFd) -> io::Result<u32> {
    let mut command = Command::new(binary);
    if let Some(arg0) = std::env::args_os().next() {
        command.arg0(arg0);
    }
    command
        .env(BOOTSTRAP_ENV, "0")
        .env(PARENT_ENV, OsString::from(std::process::id().to_string()))
        .stdin(Stdio::from(bootstrap));
    // SAFETY: the hook runs in the forked child before exec and only makes
    // system calls (async-signal-safe): it allocates nothing and takes no
    // lock.
    unsafe { command.pre_exec(|| close_on_exec_from(3)) };
    Ok(command.spawn()?.id())
}

/// Marks every descriptor from `first` on close-on-exec (in a child about
/// to exec: `Command`'s own error pipe is close-on-exec already, and stays
/// open until the exec).
fn close_on_exec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.11: one fcntl per possible descriptor.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let end = libc::c_int::try_from(limit.rlim_cur).unwrap_or(libc::c_int::MAX);
    for fd in first as libc::c_int..end {
        // SAFETY: fcntl on a descriptor number that may not be open only
        // fails with EBADF; it changes nothing else.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}
