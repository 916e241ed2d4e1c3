//! The forkserver: restarts after a death, and authenticates its callers.

use super::*;

fn restart_scenario() -> bool {
    let first = started(Process::new(returns, ()).start_method(StartMethod::Forkserver));
    first.join_timeout(T).unwrap();
    let (server, _) = mp_process::forkserver_info().expect("a forkserver runs");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(server as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(eventually(T, || !is_running(server)));
    let second = started(Process::new(returns, ()).start_method(StartMethod::Forkserver));
    assert_eq!(second.join_timeout(T).unwrap(), Some(0));
    let (restarted, _) = mp_process::forkserver_info().unwrap();
    restarted != server
}

#[test]
fn a_dead_forkserver_is_restarted() {
    let _d = deadline(60 * SECS);
    // In a child of its own: killing this test binary's forkserver would
    // kill the children of tests running alongside.
    let h = Context::new(StartMethod::Spawn)
        .spawn(restart_scenario, ())
        .unwrap();
    assert!(h.join().unwrap());
}

#[test]
fn the_forkserver_refuses_callers_without_its_key() {
    let _d = deadline(30 * SECS);
    started(Process::new(returns, ()).start_method(StartMethod::Forkserver))
        .join_timeout(T)
        .unwrap();
    let (_, address) = mp_process::forkserver_info().unwrap();
    let wrong = mp_pipe::Client::builder(address.clone())
        .authkey(b"guess")
        .timeout(T)
        .connect_now();
    assert!(
        matches!(wrong, Err(mp_pipe::Error::Authentication(_))),
        "{wrong:?}"
    );
    // Without a key a client connects at once (as Python's) and learns of
    // the refusal on its first receive.
    let none = mp_pipe::Client::builder(address)
        .timeout(T)
        .connect_now()
        .and_then(|conn| conn.recv_timeout::<u8>(T));
    assert!(
        matches!(none, Err(mp_pipe::Error::Authentication(_))),
        "{none:?}"
    );
}

fn kill_and_wait(pid: u32) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(eventually(T, || !is_running(pid)));
}

/// Waits to be released, then returns a value.
fn waits_then_returns(release: Connection) -> String {
    release.recv::<()>().unwrap();
    "still here".to_owned()
}

/// In a process of its own: a forkserver child outlives its killed
/// forkserver, reports to this process, and the next start starts a new
/// forkserver; then one more child is left running for the test to see
/// die with this process. Sends that child's pid.
fn forkserver_dies_under_a_running_child(out: Connection) {
    let ctx = Context::new(StartMethod::Forkserver);
    let (release, theirs) = pipe().unwrap();
    let h = ctx.spawn(waits_then_returns, (theirs,)).unwrap();
    let (server, _) = mp_process::forkserver_info().expect("a forkserver runs");
    kill_and_wait(server);
    assert!(h.process().is_alive(), "the child died with its forkserver");
    let pid = h.process().pid().unwrap();
    assert_eq!(
        proc_info(pid).map(|i| i.ppid),
        Some(std::process::id()),
        "the child belongs to the process that started it"
    );
    release.send(&()).unwrap();
    assert_eq!(h.join().unwrap(), "still here");
    let (r, w) = pipe().unwrap();
    let last = started(ctx.process(interruptible_sleeper, (w,)));
    r.recv::<()>().unwrap();
    let (restarted, _) = mp_process::forkserver_info().unwrap();
    assert_ne!(restarted, server, "a new forkserver");
    kill_and_wait(restarted);
    assert!(last.is_alive());
    out.send(&last.pid().unwrap()).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

fn interruptible_sleeper(ready: Connection) {
    ready.send(&()).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn children_outlive_their_forkserver_and_die_with_their_parent() {
    let _d = deadline(60 * SECS);
    let (r, w) = pipe().unwrap();
    let parent = started(
        Process::new(forkserver_dies_under_a_running_child, (w,)).start_method(StartMethod::Spawn),
    );
    let child: u32 = r.recv_timeout(T).unwrap();
    assert!(is_running(child));
    parent.kill().unwrap();
    assert_eq!(parent.join_timeout(T).unwrap(), Some(-9));
    assert!(
        eventually(T, || !is_running(child)),
        "the child outlived the process that started it"
    );
}
