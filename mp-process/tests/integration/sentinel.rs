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
