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
