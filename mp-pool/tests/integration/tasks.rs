//! Functions the tests run in workers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) fn square(x: u64) -> u64 {
    x * x
}

pub(crate) fn add(a: u64, b: u64) -> u64 {
    a + b
}

pub(crate) fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

pub(crate) fn pid_of(_: u64) -> u32 {
    std::process::id()
}

pub(crate) fn panic_on(x: u64) -> u64 {
    if x % 7 == 3 {
        mp_testkit::panic_quietly(format!("task {x} failed"));
    }
    x
}

pub(crate) fn always_panic(x: u64) -> u64 {
    mp_testkit::panic_quietly(format!("boom {x}"));
}

/// Fails item `x` after a delay that makes later failures come first.
pub(crate) fn fail_slowly_for_low_items(x: u64) -> u64 {
    if x == 100 || x == 500 || x == 900 {
        std::thread::sleep(Duration::from_millis(1000 - x));
        mp_testkit::panic_quietly(format!("item {x}"));
    }
    x
}

/// Dies the way `how` says, while running a task.
pub(crate) fn die(how: String) -> u64 {
    use rustix::process::{Resource, Rlimit, Signal, getpid, kill_process, setrlimit};
    // No core file from the crash.
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    match how.as_str() {
        "sigkill" => {
            let _ = kill_process(getpid(), Signal::KILL);
        }
        "abort" => std::process::abort(),
        "segfault" => {
            let _ = kill_process(getpid(), Signal::SEGV);
        }
        "exit3" => std::process::exit(3),
        _ => {}
    }
    std::thread::sleep(Duration::from_secs(30));
    0
}

/// Item `bad` SIGKILLs its worker after `ms`; the others sleep a little.
pub(crate) fn die_at(x: u64, bad: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(if x == bad { ms } else { 5 }));
    if x == bad {
        let _ = die("sigkill".to_owned());
    }
    x
}

/// Item `bad` writes its pid to `path` and sleeps (to be killed).
pub(crate) fn hang_at(x: u64, bad: u64, path: String) -> u64 {
    if x == bad {
        std::fs::write(&path, std::process::id().to_string()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }
    x
}

/// Serializes only even values: odd ones are an encode error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct EvenOnly(pub u32);

impl Serialize for EvenOnly {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 2 == 1 {
            return Err(serde::ser::Error::custom(format!("{} is odd", self.0)));
        }
        s.serialize_u32(self.0)
    }
}

/// Deserializes only values other than 13: 13 is a decode error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Not13(pub u32);

impl<'de> Deserialize<'de> for Not13 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Not13, D::Error> {
        let v = u32::deserialize(d)?;
        if v == 13 {
            return Err(serde::de::Error::custom("13 is unlucky"));
        }
        Ok(Not13(v))
    }
}

/// Its `Deserialize` panics on 7 (a bug in user code, not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Panics7(pub u32);

impl<'de> Deserialize<'de> for Panics7 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Panics7, D::Error> {
        let v = u32::deserialize(d)?;
        if v == 7 {
            mp_testkit::panic_quietly("cannot take 7");
        }
        Ok(Panics7(v))
    }
}

pub(crate) fn make_panics7(x: u32) -> Panics7 {
    Panics7(x)
}

pub(crate) fn even_only(x: EvenOnly) -> u32 {
    x.0
}

pub(crate) fn not13(x: Not13) -> u32 {
    x.0
}

pub(crate) fn make_even_only(x: u32) -> EvenOnly {
    EvenOnly(x)
}

pub(crate) fn make_not13(x: u32) -> Not13 {
    Not13(x)
}

pub(crate) static INIT_CALLS: AtomicU32 = AtomicU32::new(0);
pub(crate) static INIT_VALUE: AtomicU32 = AtomicU32::new(0);

pub(crate) fn init(value: u32) {
    INIT_CALLS.fetch_add(1, Ordering::SeqCst);
    INIT_VALUE.store(value, Ordering::SeqCst);
}

pub(crate) fn init_panics(why: String) {
    mp_testkit::panic_quietly(why);
}

/// (pid, initializer calls, initializer value) in the worker.
pub(crate) fn init_state(_: u64) -> (u32, u32, u32) {
    (
        std::process::id(),
        INIT_CALLS.load(Ordering::SeqCst),
        INIT_VALUE.load(Ordering::SeqCst),
    )
}

/// A gate that tasks in workers wait at until the test opens it. Workers
/// take no OS handles as arguments, so the gate is a file: open once it
/// exists.
pub(crate) struct Gate(std::path::PathBuf);

impl Gate {
    pub(crate) fn new() -> Gate {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("mp-pool-gate-{}-{n}", std::process::id());
        Gate(std::env::temp_dir().join(name))
    }

    /// What tasks are given to find the gate.
    pub(crate) fn path(&self) -> String {
        self.0.to_str().expect("a UTF-8 temp dir").to_owned()
    }

    pub(crate) fn open(&self) {
        std::fs::write(&self.0, b"").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits (at most a minute) until the gate at `path` is open; `value`.
pub(crate) fn after_gate(path: String, value: u64) -> u64 {
    let open = mp_testkit::eventually(Duration::from_secs(60), || {
        std::path::Path::new(&path).exists()
    });
    assert!(open, "the gate {path} never opened");
    value
}

/// Writes this worker's pid into `dir`, then sleeps (to be terminated).
pub(crate) fn announce_then_sleep(dir: String) -> u64 {
    let me = std::process::id();
    std::fs::write(std::path::Path::new(&dir).join(me.to_string()), b"").unwrap();
    std::thread::sleep(Duration::from_secs(60));
    0
}

/// Opens the gate at `open`, then waits (at most a minute) for the gate at
/// `wait`; `value`.
pub(crate) fn open_then_wait(open: String, wait: String, value: u64) -> u64 {
    std::fs::write(&open, b"").unwrap();
    after_gate(wait, value)
}
