//! Sentinels and join: what `wait` reports, and when `join` returns.

use super::*;

#[test]
fn wait_reports_the_sentinel_of_a_joined_process() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let (_keep, idle) = pipe().unwrap();
        let p = started(Process::new(returns, ()).start_method(m));
        assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
        let sentinel = p.sentinel().unwrap();
        // CPython's test_sentinel: wait_for_handle(sentinel, timeout=1).
        let ready = mp_pipe::wait(&[&idle, &sentinel], Some(SECS)).unwrap();
        assert_eq!(ready, [1], "{m}: the joined process's sentinel");
        let ready = mp_pipe::wait(&[&p], Some(SECS)).unwrap();
        assert_eq!(ready, [0], "{m}: the joined process");
        // And again: a sentinel stays ready.
        let ready = mp_pipe::wait(&[&sentinel], Some(SECS)).unwrap();
        assert_eq!(ready, [0], "{m}: a second wait");
    }
}

/// Where the at-exit hook of `leaves_through_an_at_exit_hook` writes.
static AT_EXIT_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

extern "C" fn write_at_exit() {
    if let Some(path) = AT_EXIT_FILE.get() {
        std::fs::write(path, b"written at exit").unwrap();
    }
}

/// Registers an at-exit hook that writes `path`, and leaves a partial line
/// in stdout's buffer (stdout is `out`).
fn leaves_through_an_at_exit_hook(path: std::path::PathBuf, out: mp_handle::Fd) {
    #![allow(unsafe_code)]
    AT_EXIT_FILE.set(path).unwrap();
    // SAFETY: the hook is a plain function that stays valid for the
    // whole process.
    assert_eq!(unsafe { libc::atexit(write_at_exit) }, 0);
    rustix::stdio::dup2_stdout(&out).unwrap();
    print!("a line without its end");
}

#[test]
fn join_returns_once_the_child_has_finished_exiting() {
    let _d = deadline(120 * SECS);
    let dir = std::env::temp_dir();
    for m in methods() {
        // The race was lost about one run in three.
        for run in 0..30 {
            let path = dir.join(format!("mp-at-exit-{}-{m}-{run}", std::process::id()));
            let out_path = dir.join(format!("mp-stdout-{}-{m}-{run}", std::process::id()));
            let out = std::fs::File::create(&out_path).unwrap();
            let p = started(
                Process::new(
                    leaves_through_an_at_exit_hook,
                    (
                        path.clone(),
                        mp_handle::Fd::from(std::os::fd::OwnedFd::from(out)),
                    ),
                )
                .start_method(m),
            );
            assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
            let stdout = std::fs::read_to_string(&out_path).unwrap();
            std::fs::remove_file(&out_path).unwrap();
            assert_eq!(
                stdout, "a line without its end",
                "{m}, run {run}: stdout flushed"
            );
            // A forked child leaves with _exit, as in CPython: at-exit hooks
            // belong to the parent's program. A forkserver child runs the
            // hooks its program registered before its _exit.
            if m != StartMethod::Fork {
                let written = std::fs::read(&path);
                let _ = std::fs::remove_file(&path);
                assert!(
                    written.is_ok(),
                    "{m}, run {run}: joined before the at-exit hook ran"
                );
            }
        }
    }
}
