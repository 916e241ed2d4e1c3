//! Children never outlive their parent, and the threads that start them.

use super::*;

fn sleeper_family(method: StartMethod, out: Connection) {
    let daemon = started(
        Process::new(sleeps, (60_000,))
            .start_method(method)
            .daemon(true),
    );
    let other = started(Process::new(sleeps, (60_000,)).start_method(method));
    out.send(&(daemon.pid().unwrap(), other.pid().unwrap()))
        .unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn children_die_with_a_sigkilled_parent() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let (r, w) = pipe().unwrap();
        let parent = started(Process::new(sleeper_family, (m, w)).start_method(m));
        let (daemon, other): (u32, u32) = r.recv_timeout(T).unwrap();
        assert!(is_running(daemon) && is_running(other));
        parent.kill().unwrap();
        assert_eq!(parent.join_timeout(T).unwrap(), Some(-9));
        assert!(
            eventually(T, || !is_running(daemon) && !is_running(other)),
            "{m}: orphans left"
        );
    }
}

fn exits_normally(method: StartMethod, out: Connection, release: Connection) {
    let daemon = started(
        Process::new(sleeps, (60_000,))
            .start_method(method)
            .daemon(true),
    );
    let other = started(
        Process::new(finishes_when_released, (release, out.try_clone().unwrap()))
            .start_method(method),
    );
    out.send(&(daemon.pid().unwrap(), other.pid().unwrap()))
        .unwrap();
}

fn finishes_when_released(release: Connection, out: Connection) {
    release.recv::<()>().unwrap();
    out.send(&(0u32, 0u32)).unwrap();
}

#[test]
fn at_exit_daemons_are_terminated_and_the_others_joined() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let (r, w) = pipe().unwrap();
        let (release, theirs) = pipe().unwrap();
        let parent = started(Process::new(exits_normally, (m, w, theirs)).start_method(m));
        let (daemon, other): (u32, u32) = r.recv_timeout(T).unwrap();
        // At exit the parent terminates its daemon first...
        assert!(
            eventually(T, || !is_running(daemon)),
            "{m}: daemon survived"
        );
        // ...then waits for its other child, which waits for us. (A parent
        // that did not wait would be gone by now, and its child with it.)
        assert_eq!(
            parent.join_timeout(Duration::from_millis(500)).unwrap(),
            None,
            "{m}: exited before joining its child"
        );
        assert!(is_running(other), "{m}");
        release.send(&()).unwrap();
        assert_eq!(r.recv_timeout::<(u32, u32)>(T).unwrap(), (0, 0), "{m}");
        assert_eq!(parent.join_timeout(T).unwrap(), Some(0), "{m}");
    }
}

fn echoes(conn: Connection) {
    while let Ok(n) = conn.recv::<u32>() {
        conn.send(&n).unwrap();
    }
}

/// Starts a child from a thread that then ends; the child's pid and the
/// thread's id.
fn start_from_a_thread(method: StartMethod, conn: Connection) -> (u32, i32) {
    std::thread::spawn(move || {
        let child = started(Process::new(echoes, (conn,)).start_method(method));
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        (child.pid().unwrap(), tid)
    })
    .join()
    .unwrap()
}

#[test]
fn a_child_outlives_the_thread_that_started_it() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let (ours, theirs) = pipe().unwrap();
        let (pid, tid) = start_from_a_thread(m, theirs);
        // A thread leaves /proc after its exit is done, so a parent-death
        // signal tied to it would have been sent by then.
        let task = format!("/proc/self/task/{tid}");
        assert!(eventually(T, || !std::path::Path::new(&task).exists()));
        ours.send(&7u32).unwrap();
        assert_eq!(
            ours.recv_timeout::<u32>(T).ok(),
            Some(7),
            "{m}: the child died with its starting thread"
        );
        let child = active_children()
            .into_iter()
            .find(|p| p.pid() == Some(pid))
            .unwrap();
        child.kill().unwrap();
        assert_eq!(child.join_timeout(T).unwrap(), Some(-9));
    }
}
