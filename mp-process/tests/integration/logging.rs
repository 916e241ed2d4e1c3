//! mp's log (Python's `log_to_stderr()` / `get_logger()`): its events in
//! CPython's format, in a parent and in its children under every start
//! method, read from the real stderr of a re-executed test binary.

use std::sync::Mutex;

use mp_process::log::{self, LevelFilter, Log, Metadata, Record};

use super::*;

/// Set for the re-executed helpers below: what they do.
const MODE_ENV: &str = "MP_TEST_LOG_MODE";

fn logs_in_the_child() {
    mp_process::get_logger().info("hello from the child's own code");
    mp_process::get_logger().debug("a child's debug line");
}

fn child_level() -> Option<String> {
    mp_process::get_logger().level().map(|l| l.to_string())
}

fn run_helper(helper: &str, mode: &str) -> String {
    mp_testkit::stderr_of_ignored_test(helper, (MODE_ENV, mode))
}

/// `log_to_stderr(DEBUG)` in a parent that starts one child with the
/// method named in `MODE_ENV`.
#[test]
#[ignore = "a helper: run by children_log_to_stderr_under_every_start_method"]
fn stderr_helper() {
    let Ok(method) = std::env::var(MODE_ENV) else {
        return;
    };
    let method: StartMethod = method.parse().unwrap();
    let _d = deadline(30 * SECS);
    mp_process::log_to_stderr(LevelFilter::Debug);
    let mut p = Process::new(logs_in_the_child, ()).start_method(method);
    p.start().unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}

/// CPython's `log_to_stderr()`: `[LEVEL/ProcessName] message` lines from
/// the parent and from the child (which inherited the stderr logger and
/// the level), under every start method.
#[test]
fn children_log_to_stderr_under_every_start_method() {
    let _d = deadline(120 * SECS);
    for method in methods() {
        let stderr = run_helper("logging::stderr_helper", method.name());
        for line in [
            "[DEBUG/MainProcess] started Process-1 (pid ",
            "[INFO/Process-1] child process calling self.run()",
            "[INFO/Process-1] hello from the child's own code",
            "[DEBUG/Process-1] a child's debug line",
            "[INFO/Process-1] process exiting with exitcode 0",
            ") ended with exitcode 0",
            "[INFO/MainProcess] process shutting down",
        ] {
            assert!(stderr.contains(line), "{method}: no {line:?} in:\n{stderr}");
        }
        let forkserver = stderr.contains("[INFO/MainProcess] forkserver started (pid ");
        assert_eq!(forkserver, method == StartMethod::Forkserver, "{stderr}");
        // Only mp's records, and every line in the format.
        assert!(
            stderr
                .lines()
                .filter(|l| l.starts_with('['))
                .all(|l| l.contains("/MainProcess] ") || l.contains("/Process-1] ")),
            "{stderr}"
        );
    }
}

/// The level a child starts with is its parent's, under every start
/// method (below it, the child's records are not printed).
#[test]
#[ignore = "a helper: run by a_child_inherits_the_mp_log_level"]
fn level_helper() {
    if std::env::var(MODE_ENV).is_err() {
        return;
    }
    let _d = deadline(60 * SECS);
    mp_process::log_to_stderr(LevelFilter::Info);
    for method in methods() {
        let level = Context::new(method)
            .spawn(child_level, ())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(level.as_deref(), Some("INFO"), "{method}");
        let mut p = Process::new(logs_in_the_child, ()).start_method(method);
        p.start().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    }
}

#[test]
fn a_child_inherits_the_mp_log_level() {
    let _d = deadline(120 * SECS);
    let stderr = run_helper("logging::level_helper", "info");
    assert!(
        stderr.contains("hello from the child's own code"),
        "{stderr}"
    );
    assert!(!stderr.contains("debug line"), "{stderr}");
    assert!(!stderr.contains("[DEBUG/"), "{stderr}");
}

/// A logger of the program's own, installed first.
struct Collect(Mutex<Vec<String>>);

impl Log for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let line = format!("{} {} {}", record.target(), record.level(), record.args());
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

static COLLECT: Collect = Collect(Mutex::new(Vec::new()));

#[test]
#[ignore = "a helper: run by a_logger_of_the_programs_own_sees_mps_records"]
fn own_logger_helper() {
    if std::env::var(MODE_ENV).is_err() {
        return;
    }
    let _d = deadline(30 * SECS);
    log::set_logger(&COLLECT).unwrap();
    log::set_max_level(LevelFilter::Debug);
    // Installs nothing: the program's logger stays, mp's records go there.
    mp_process::log_to_stderr(LevelFilter::Debug);
    let mut p = Process::new(returns, ()).start_method(StartMethod::Fork);
    p.start().unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    let seen = COLLECT.0.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("mp::process DEBUG started Process-1")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("ended with exitcode 0")),
        "{seen:?}"
    );
}

#[test]
fn a_logger_of_the_programs_own_sees_mps_records() {
    let _d = deadline(60 * SECS);
    let stderr = run_helper("logging::own_logger_helper", "own");
    // mp's stderr logger was not installed over it.
    assert!(!stderr.contains("[DEBUG/MainProcess]"), "{stderr}");
}
