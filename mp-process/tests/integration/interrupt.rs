//! `interrupt()`: SIGINT ends a child with 1, as a CPython child's
//! uncaught `KeyboardInterrupt` does, unless the child set SIGINT up
//! itself (its own handler, the default action, ignored) or inherited it
//! ignored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::{Pid, Signal, kill_process};

use super::*;

/// What a child does with SIGINT before it says it runs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum SetUp {
    /// Nothing: mp's handler is in place.
    Nothing,
    /// `SIG_DFL` restored, as `signal.signal(SIGINT, SIG_DFL)`.
    Default,
    /// `SIG_IGN`.
    Ignore,
    /// A plain `sigaction` handler that only notes the signal.
    OwnHandler,
}

static NOTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note(_: libc::c_int) {
    NOTED.store(true, Ordering::SeqCst);
}

fn set_up(how: SetUp) {
    #![allow(unsafe_code)]
    let action = match how {
        SetUp::Nothing => return,
        SetUp::Default => libc::SIG_DFL,
        SetUp::Ignore => libc::SIG_IGN,
        SetUp::OwnHandler => note as extern "C" fn(libc::c_int) as libc::sighandler_t,
    };
    // SAFETY: an all-zero `sigaction` is valid; the handler only stores to
    // an atomic (async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = action;
        assert_eq!(libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut()), 0);
    }
}

/// Sets SIGINT up, says it runs, then sleeps (a minute at most). With its
/// own handler it returns once the handler ran.
fn interruptible(how: SetUp, ready: Connection) {
    set_up(how);
    ready.send(&()).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if NOTED.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::process::exit(3);
}

/// Starts `interruptible` under `m`, interrupts it once it runs.
fn interrupted(m: StartMethod, how: SetUp) -> Process {
    let (ready, theirs) = pipe().unwrap();
    let p = started(Process::new(interruptible, (how, theirs)).start_method(m));
    ready.recv_timeout::<()>(T).unwrap();
    p.interrupt().unwrap();
    p
}

#[test]
fn interrupt_ends_a_child_with_1_as_keyboard_interrupt_does() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let p = interrupted(m, SetUp::Nothing);
        assert_eq!(p.join_timeout(T).unwrap(), Some(1), "{m}");
    }
    let p = Process::new(returns, ());
    assert!(matches!(p.interrupt(), Err(Error::NotStarted)));
}

#[test]
fn a_forked_child_interrupted_at_once_still_exits_with_1() {
    let _d = deadline(120 * SECS);
    // A forked child holds SIGINT back until its handler is in place (a
    // re-executed one cannot: until it runs, the default action holds).
    for m in [StartMethod::Fork, StartMethod::Forkserver] {
        for _ in 0..20 {
            let p = started(Process::new(sleeps, (60_000,)).start_method(m));
            p.interrupt().unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(1), "{m}");
        }
    }
}

#[test]
fn a_child_that_restored_the_default_action_dies_of_sigint() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let p = interrupted(m, SetUp::Default);
        assert_eq!(p.join_timeout(T).unwrap(), Some(-2), "{m}");
    }
}

#[test]
fn a_child_that_ignores_sigint_keeps_running() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let p = interrupted(m, SetUp::Ignore);
        assert_eq!(p.join_timeout(SECS / 5).unwrap(), None, "{m}");
        p.terminate().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(-15), "{m}");
    }
}

#[test]
fn a_child_with_its_own_handler_goes_on() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let p = interrupted(m, SetUp::OwnHandler);
        assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
    }
}

/// Handles SIGINT through signal-hook, which chains to the handler it
/// replaces (mp's): returns once its flag is set, and goes on a little
/// after that, long enough for a wrong exit to show.
fn hooked(ready: Connection) -> String {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, flag.clone()).unwrap();
    ready.send(&()).unwrap();
    if !eventually(60 * SECS, || flag.load(Ordering::SeqCst)) {
        return "no SIGINT seen".to_owned();
    }
    std::thread::sleep(SECS / 10);
    "went on".to_owned()
}

#[test]
fn a_signal_hook_handler_runs_and_the_child_goes_on() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let (ready, theirs) = pipe().unwrap();
        let mut child = Context::new(m).spawn(hooked, (theirs,)).unwrap();
        ready.recv_timeout::<()>(T).unwrap();
        child.process().interrupt().unwrap();
        assert_eq!(child.join_timeout(T).unwrap(), "went on", "{m}");
        assert_eq!(child.process().exitcode(), Some(0), "{m}");
    }
}

/// Sends its pid, then sleeps (a minute at most).
fn sleeper(pid: Connection) {
    pid.send(&std::process::id()).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// In a child: ignores SIGINT if told to, starts `sleeper` under `m` and
/// returns its exit code.
fn parent_of_sleeper(ignore: bool, m: StartMethod, pid: Connection) -> Option<i32> {
    if ignore {
        set_up(SetUp::Ignore);
    }
    let p = started(Process::new(sleeper, (pid,)).start_method(m));
    p.join_timeout(T).unwrap()
}

fn sigint(pid: u32) {
    kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::INT).unwrap();
}

#[test]
fn grandchildren_exit_with_1_unless_their_parent_ignores_sigint() {
    let _d = deadline(120 * SECS);
    for m in methods() {
        for ignore in [false, true] {
            let (pid, theirs) = pipe().unwrap();
            let mut child = mp_process::spawn(parent_of_sleeper, (ignore, m, theirs)).unwrap();
            let grandchild: u32 = pid.recv_timeout(T).unwrap();
            sigint(grandchild);
            let expected = if ignore {
                // A process that ignores SIGINT hands that on, as exec
                // and fork do.
                std::thread::sleep(SECS / 5);
                assert!(is_running(grandchild), "{m}");
                kill_process(Pid::from_raw(grandchild as i32).unwrap(), Signal::TERM).unwrap();
                -15
            } else {
                1
            };
            assert_eq!(
                child.join_timeout(T).unwrap(),
                Some(expected),
                "{m}, ignore: {ignore}"
            );
        }
    }
}
