//! `SharedMemoryManager`: segments handed out by a server process, an
//! error before `start`, and every segment unlinked at `shutdown` or when
//! the owner is SIGKILLed.

use std::path::Path;

use mp_manager::{BaseManager, Error, SharedMemoryManager};
use mp_pipe::Connection;
use mp_process::{Process, StartMethod};
use mp_shm::{Item, ShareableList, SharedMemory};

use crate::{DEADLINE, PATIENCE};

fn exists(name: &str) -> bool {
    Path::new(&format!("/dev/shm/{name}")).exists()
}

fn write_through(shm: SharedMemory, list: ShareableList) {
    shm.write_at(8, b"from the child").unwrap();
    list.set(0, Item::Int(42)).unwrap();
}

#[test]
fn using_it_before_start_is_an_error() {
    let _d = mp_testkit::deadline(DEADLINE);
    let mut smm = SharedMemoryManager::new();
    assert!(matches!(smm.shared_memory(16), Err(Error::NotStarted)));
    assert!(matches!(smm.shareable_list([1i64]), Err(Error::NotStarted)));
    assert!(matches!(smm.segment_names(), Err(Error::NotStarted)));
    smm.start().unwrap();
    assert!(matches!(smm.start(), Err(Error::Start(_))));
    smm.shutdown().unwrap();
    assert!(matches!(smm.shared_memory(16), Err(Error::ManagerClosed)));
}

#[test]
fn every_segment_handed_out_is_unlinked_at_shutdown() {
    let _d = mp_testkit::deadline(DEADLINE);
    for m in StartMethod::ALL {
        let mut smm = SharedMemoryManager::with_settings(BaseManager::new().start_method(m));
        smm.start().unwrap();
        let shm = smm.shared_memory(4096).unwrap();
        let list = smm
            .shareable_list([Item::Int(1), Item::from("two")])
            .unwrap();
        let extra = smm.shared_memory(10).unwrap();
        // Handles here are attachers: dropping one unlinks nothing.
        let extra_name = extra.name().to_owned();
        drop(extra);
        assert!(exists(&extra_name), "{m}");
        // A child process uses them like any segment.
        let mut p = Process::new(write_through, (shm.clone(), list.clone()));
        p.start().unwrap();
        assert_eq!(p.join_timeout(PATIENCE).unwrap(), Some(0));
        let mut buf = [0u8; 14];
        shm.read_at(8, &mut buf).unwrap();
        assert_eq!(&buf, b"from the child");
        assert_eq!(list.get(0).unwrap(), Item::Int(42));

        let mut names = smm.segment_names().unwrap();
        names.sort();
        let mut expected = vec![shm.name().to_owned(), list.name().to_owned(), extra_name];
        expected.sort();
        assert_eq!(names, expected, "{m}");
        assert!(names.iter().all(|n| exists(n)));
        let server = smm.pid().unwrap();
        smm.shutdown().unwrap();
        for name in &names {
            assert!(!exists(name), "{m}: {name} outlived shutdown");
        }
        assert!(
            !mp_testkit::is_running(server),
            "{m}: the server outlived shutdown"
        );
    }
}

/// The owner: starts a manager, makes segments, tells the test their
/// names and the server's pid, then waits to be killed.
fn own_segments(method: StartMethod, report: Connection) {
    let mut smm = SharedMemoryManager::with_settings(BaseManager::new().start_method(method));
    smm.start().unwrap();
    let shm = smm.shared_memory(1 << 16).unwrap();
    let list = smm.shareable_list(["a", "b", "c"]).unwrap();
    let names = vec![shm.name().to_owned(), list.name().to_owned()];
    report.send(&(names, smm.pid().unwrap())).unwrap();
    // Never answered: the test kills this process.
    let _ = report.recv::<()>();
}

#[test]
fn the_segments_are_unlinked_when_the_owner_is_killed() {
    let _d = mp_testkit::deadline(DEADLINE);
    for m in [
        StartMethod::Forkserver,
        StartMethod::Spawn,
        StartMethod::Fork,
    ] {
        let (ours, theirs) = mp_pipe::pipe().unwrap();
        let mut owner = Process::new(own_segments, (m, theirs));
        owner.start().unwrap();
        let (names, server): (Vec<String>, u32) = ours.recv_timeout(PATIENCE).unwrap();
        assert!(names.iter().all(|n| exists(n)), "{m}");
        owner.kill().unwrap();
        assert_eq!(owner.join_timeout(PATIENCE).unwrap(), Some(-9));
        assert!(
            mp_testkit::eventually(PATIENCE, || names.iter().all(|n| !exists(n))),
            "{m}: segments outlived their SIGKILLed owner: {names:?}"
        );
        assert!(
            mp_testkit::eventually(PATIENCE, || !mp_testkit::is_running(server)),
            "{m}: the server outlived its owner"
        );
    }
}
