//! The pool's events in mp's log (Python's `log_to_stderr()`): workers
//! added, lost and replaced, read from a re-executed test binary's stderr.

use super::*;

const MODE_ENV: &str = "MP_TEST_POOL_LOG";

#[test]
#[ignore = "a helper: run by a_lost_and_replaced_worker_is_logged"]
fn pool_log_helper() {
    if std::env::var(MODE_ENV).is_err() {
        return;
    }
    let _d = mp_testkit::deadline(secs(60));
    mp_process::log_to_stderr(mp_process::log::LevelFilter::Debug);
    let pool = Pool::new(1).unwrap();
    assert_eq!(
        pool.apply(die, ("sigkill".to_owned(),)),
        Err(Error::WorkerLost { exitcode: -9 })
    );
    assert_eq!(pool.apply(square, (3,)).unwrap(), 9);
    pool.close();
    pool.join_timeout(secs(30)).unwrap();
}

#[test]
fn a_lost_and_replaced_worker_is_logged() {
    let _d = mp_testkit::deadline(secs(120));
    let stderr = mp_testkit::stderr_of_ignored_test("logging::pool_log_helper", (MODE_ENV, "1"));
    for line in [
        "[DEBUG/MainProcess] added worker PoolWorker-1 (pid ",
        "[INFO/PoolWorker-1] child process calling self.run()",
        "[WARNING/MainProcess] worker PoolWorker-1 was lost (exitcode -9) while running a task",
        "[INFO/MainProcess] replaced a worker that ended: PoolWorker-2 started",
        "[DEBUG/MainProcess] added worker PoolWorker-2 (pid ",
        "[DEBUG/MainProcess] closing pool",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
}
