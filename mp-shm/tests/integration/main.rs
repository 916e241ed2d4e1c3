//! mp-shm across real processes (every start method), with deadlines.

mod barrier;
mod locks;
mod shm;
mod sync;
mod values;

use std::time::Duration;

use mp_process::{Process, StartMethod};

pub const LONG: Duration = Duration::from_secs(60);
pub const JOIN: Duration = Duration::from_secs(30);

/// Starts `p` with `method` and returns it.
pub fn started(p: Process, method: StartMethod) -> Process {
    let mut p = p.start_method(method);
    p.start().expect("start child");
    p
}

/// Joins with a timeout and returns the exit code.
pub fn join(p: &Process) -> i32 {
    match p.join_timeout(JOIN).expect("join") {
        Some(code) => code,
        None => {
            let pid = p.pid().unwrap_or(0);
            let read =
                |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
            panic!(
                "child {pid} ({}) did not finish in time; wchan {:?}, syscall {:?}, stack {:?}",
                p.get_start_method(),
                read("wchan"),
                read("syscall"),
                read("stack"),
            )
        }
    }
}

/// A segment name unique to this test binary run. It starts with `psm_`,
/// the prefix `.ci/run` looks for in /dev/shm after the whole suite: a
/// segment a test leaves behind fails CI there (a check inside this binary
/// would depend on libtest's order and pass vacuously under a name filter).
pub fn shm_name(tag: &str) -> String {
    format!("psm_mpt{}_{tag}", std::process::id())
}

pub fn exists_in_dev_shm(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}
