//! Clients on the same machine move their connection onto a pipe whose
//! ends share memory: calls, a blocked call whose client is killed, and the
//! end of a killed client's session all work there.

use mp_manager::{ListProxy, Manager, QueueProxy};
use mp_pipe::Connection;
use mp_process::Process;

use crate::{DEADLINE, PATIENCE, until_waiting};

/// The pipe segments (`memfd:mp-pipe`) mapped in process `pid`.
fn pipe_segments(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .filter(|line| line.contains("memfd:mp-pipe"))
        .count()
}

fn hold_then_get(list: ListProxy<u32>, q: QueueProxy<u32>, started: Connection) {
    list.append(&2).unwrap();
    started.send(&()).unwrap();
    // Blocks until killed.
    let _ = q.get();
}

#[test]
fn a_local_client_is_served_through_shared_memory() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let server = manager.pid().unwrap();
    let before = pipe_segments(server);
    let value = manager.value(&5u64).unwrap();
    assert_eq!(value.get().unwrap(), 5);
    value.set(&6).unwrap();
    assert_eq!(value.get().unwrap(), 6);
    assert!(
        pipe_segments(server) > before,
        "the server maps no pipe of this client"
    );
}

#[test]
fn a_killed_client_on_a_pipe_ends_its_wait_and_its_session() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let server = manager.pid().unwrap();
    let base = manager.number_of_objects().unwrap();
    let list = manager.list::<u32>().unwrap();
    let q = manager.queue::<u32>().unwrap();
    let before = pipe_segments(server);
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut child = Process::new(hold_then_get, (list.clone(), q.clone(), theirs));
    child.start().unwrap();
    ours.recv_timeout::<()>(PATIENCE).unwrap();
    until_waiting(&manager, 1);
    // The child's connections are pipes the server maps.
    let with_child = pipe_segments(server);
    assert!(with_child > before, "the child's connection is not a pipe");
    assert_eq!(list.get(0).unwrap(), 2);
    drop((list, q));
    child.kill().unwrap();
    child.join_timeout(PATIENCE).unwrap();
    // End of file on the pipe: the blocked get ends, the connections are
    // dropped, and the session's holds go with them.
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.debug_info().unwrap().waiting == 0
    }));
    assert!(mp_testkit::eventually(PATIENCE, || {
        pipe_segments(server) < with_child
    }));
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base
    }));
}
