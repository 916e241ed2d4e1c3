//! The manager's events in mp's log (Python's `log_to_stderr()`): the
//! server serving, its connections and its shutdown, read from a
//! re-executed test binary's stderr.

use super::*;

const MODE_ENV: &str = "MP_TEST_MANAGER_LOG";

#[test]
#[ignore = "a helper: run by a_managers_start_connections_and_shutdown_are_logged"]
fn manager_log_helper() {
    if std::env::var(MODE_ENV).is_err() {
        return;
    }
    let _d = mp_testkit::deadline(DEADLINE);
    mp_process::log_to_stderr(mp_process::log::LevelFilter::Debug);
    let manager = Manager::start().unwrap();
    let list = manager.list::<u32>().unwrap();
    list.append(&1).unwrap();
    manager.shutdown().unwrap();
}

#[test]
fn a_managers_start_connections_and_shutdown_are_logged() {
    let _d = mp_testkit::deadline(DEADLINE);
    let stderr = mp_testkit::stderr_of_ignored_test("logging::manager_log_helper", (MODE_ENV, "1"));
    for line in [
        "[INFO/SyncManager] manager serving at ",
        "[DEBUG/SyncManager] manager accepted a connection from ",
        "[INFO/MainProcess] sending shutdown message to manager at ",
        "[INFO/SyncManager] manager received shutdown message",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
}
