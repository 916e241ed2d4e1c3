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

fn exits_normally(method: StartMethod, out: Connection) {
    let daemon = started(
        Process::new(sleeps, (60_000,))
            .start_method(method)
            .daemon(true),
    );
    let other =
        started(Process::new(finishes_late, (out.try_clone().unwrap(),)).start_method(method));
    out.send(&(daemon.pid().unwrap(), other.pid().unwrap()))
        .unwrap();
}

fn finishes_late(out: Connection) {
    std::thread::sleep(Duration::from_millis(300));
    out.send(&(0u32, 0u32)).unwrap();
}

#[test]
fn at_exit_daemons_are_terminated_and_the_others_joined() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let (r, w) = pipe().unwrap();
        let parent = started(Process::new(exits_normally, (m, w)).start_method(m));
        let (daemon, _other): (u32, u32) = r.recv_timeout(T).unwrap();
        assert_eq!(parent.join_timeout(T).unwrap(), Some(0), "{m}");
        // The parent waited for its non-daemon child before exiting...
        assert!(
            r.poll(Duration::ZERO).unwrap(),
            "{m}: exited before joining its child"
        );
        assert_eq!(r.recv_timeout::<(u32, u32)>(T).unwrap(), (0, 0));
        // ...and terminated its daemon.
        assert!(
            eventually(T, || !is_running(daemon)),
            "{m}: daemon survived"
        );
    }
}

fn start_from_a_thread(method: StartMethod) -> u32 {
    std::thread::spawn(move || {
        started(Process::new(sleeps, (60_000,)).start_method(method))
            .pid()
            .unwrap()
    })
    .join()
    .unwrap()
}

#[test]
fn a_child_outlives_the_thread_that_started_it() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let pid = start_from_a_thread(m);
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            is_running(pid),
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
