//! mp-shm across real processes (every start method), with deadlines.

mod barrier;
mod locks;
mod shm;
mod sync;
mod values;

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A segment name unique to this test binary run.
pub fn shm_name(tag: &str) -> String {
    format!("mpt{}_{tag}", std::process::id())
}

pub fn exists_in_dev_shm(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

static STARTED: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Marks a test that creates named segments, for `zz_nothing_left_in_dev_shm`.
#[derive(Debug)]
pub struct NamedSegments;

impl NamedSegments {
    pub fn begin() -> NamedSegments {
        STARTED.fetch_add(1, Ordering::SeqCst);
        NamedSegments
    }
}

impl Drop for NamedSegments {
    fn drop(&mut self) {
        FINISHED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs last in name order (libtest starts tests in name order): waits for
/// every other test that created named segments, then checks that none of
/// this run's names is left in /dev/shm.
#[test]
fn zz_nothing_left_in_dev_shm() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    assert!(
        mp_testkit::eventually(Duration::from_secs(100), || {
            STARTED.load(Ordering::SeqCst) == FINISHED.load(Ordering::SeqCst)
        }),
        "tests with named segments did not finish"
    );
    let prefix = shm_name("");
    let left = || -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix))
            .collect()
    };
    // Trackers of killed children may still be finishing.
    assert!(
        mp_testkit::eventually(Duration::from_secs(10), || left().is_empty()),
        "left in /dev/shm: {:?}",
        left()
    );
}
