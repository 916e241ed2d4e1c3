#![allow(
    unsafe_code,
    reason = "exercises the unsafe accessors and the Shareable contract"
)]

use std::time::Duration;

use mp_process::{Process, StartMethod};
use mp_shm::{ErrorKind, Event, Item, ShareableList, SharedMemory};
use mp_testkit::{deadline, eventually};

use crate::{LONG, exists_in_dev_shm, join, shm_name, started};

fn write_by_name(name: String, text: Vec<u8>) {
    let shm = SharedMemory::open(&name).unwrap();
    assert!(!shm.is_creator());
    shm.write_at(10, &text).unwrap();
}

fn write_by_handle(shm: SharedMemory, text: Vec<u8>) {
    assert!(!shm.is_creator());
    shm.write_at(100, &text).unwrap();
}

#[test]
fn shared_memory_is_shared_by_name_and_by_handle() {
    let _d = deadline(LONG);
    let name = shm_name("share");
    let shm = SharedMemory::create(name.as_str(), 4096).unwrap();
    assert_eq!(shm.name(), name);
    assert!(shm.is_creator());
    for m in StartMethod::ALL {
        let text = format!("by {m}\0\0").into_bytes();
        let p = started(Process::new(write_by_name, (name.clone(), text.clone())), m);
        assert_eq!(join(&p), 0);
        let mut buf = vec![0; text.len()];
        shm.read_at(10, &mut buf).unwrap();
        assert_eq!(buf, text);
        let p = started(
            Process::new(write_by_handle, (shm.clone(), text.clone())),
            m,
        );
        assert_eq!(join(&p), 0);
        shm.read_at(100, &mut buf).unwrap();
        assert_eq!(buf, text);
    }
    assert!(
        exists_in_dev_shm(&name),
        "children that attached never unlink"
    );
    drop(shm);
    assert!(!exists_in_dev_shm(&name), "the creator unlinks on drop");
}

#[test]
fn shared_memory_errors_are_typed() {
    let _d = deadline(LONG);
    let name = shm_name("errors");
    assert_eq!(
        SharedMemory::create(name.as_str(), 0).unwrap_err().kind(),
        ErrorKind::ZeroSize
    );
    assert_eq!(
        SharedMemory::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let shm = SharedMemory::create(name.as_str(), 10).unwrap();
    assert_eq!(
        SharedMemory::create(name.as_str(), 10).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    for bad in ["", "/", "a/b", "has space", "x\n", &"n".repeat(300)] {
        assert_eq!(
            SharedMemory::create(bad, 10).unwrap_err().kind(),
            ErrorKind::InvalidName,
            "{bad:?}"
        );
    }
    let mut buf = [0u8; 4];
    assert_eq!(
        shm.read_at(8, &mut buf).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    assert_eq!(
        shm.write_at(usize::MAX, &buf).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    shm.unlink().unwrap();
    assert!(!exists_in_dev_shm(&name));
    assert_eq!(shm.unlink().unwrap_err().kind(), ErrorKind::AlreadyUnlinked);
    assert_eq!(
        shm.clone().unlink().unwrap_err().kind(),
        ErrorKind::AlreadyUnlinked
    );
    // Memory stays usable after unlink while mapped.
    shm.write_at(0, b"ok").unwrap();
    // Someone else's unlink is seen too.
    let other = SharedMemory::create(name.as_str(), 10).unwrap();
    let attached = SharedMemory::open(&name).unwrap();
    other.unlink().unwrap();
    assert_eq!(
        attached.unlink().unwrap_err().kind(),
        ErrorKind::AlreadyUnlinked
    );
}

#[test]
fn sizes_close_persist_and_attachers_never_unlink() {
    let _d = deadline(LONG);
    let name = shm_name("life");
    let mut shm = SharedMemory::create(name.as_str(), 100).unwrap();
    assert_eq!(shm.size(), 100);
    assert_eq!(shm.real_size(), 4096);
    shm.write_at(0, &[7; 100]).unwrap();
    let attacher = SharedMemory::open(&name).unwrap();
    assert_eq!(attacher.size(), 100);
    assert_eq!(attacher.to_vec().unwrap(), vec![7; 100]);
    drop(attacher);
    assert!(
        exists_in_dev_shm(&name),
        "an attacher does not unlink on drop"
    );
    shm.close();
    assert_eq!(
        shm.read_at(0, &mut [0]).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert!(shm.as_ptr().is_none());
    shm.persist();
    drop(shm);
    assert!(exists_in_dev_shm(&name), "persisted");
    let again = SharedMemory::open(&name).unwrap();
    // SAFETY: no other process uses this segment.
    assert_eq!(unsafe { again.as_slice() }, &[7; 100][..]);
    again.unlink().unwrap();
    assert!(!exists_in_dev_shm(&name));
    let generated = SharedMemory::create(None, 1).unwrap();
    assert!(generated.name().starts_with("psm_"), "{}", generated.name());
    let path = generated.name().to_owned();
    drop(generated);
    assert!(!exists_in_dev_shm(&path));
}

fn create_and_hang(name: String, ready: Event) {
    let shm = SharedMemory::create(name.as_str(), 1 << 16).unwrap();
    ready.set();
    std::thread::sleep(Duration::from_secs(120));
    drop(shm);
}

fn create_and_exit_without_drop(name: String) {
    let shm = SharedMemory::create(name.as_str(), 100).unwrap();
    std::mem::forget(shm);
    std::process::exit(0);
}

#[test]
fn segments_of_a_creator_killed_by_sigkill_are_cleaned_up() {
    let _d = deadline(LONG);
    for m in [
        StartMethod::Forkserver,
        StartMethod::Fork,
        StartMethod::Spawn,
    ] {
        let name = shm_name(&format!("killed_{m}"));
        let ready = Event::new().unwrap();
        let p = started(
            Process::new(create_and_hang, (name.clone(), ready.clone())),
            m,
        );
        assert!(ready.wait_timeout(LONG), "{m}");
        assert!(exists_in_dev_shm(&name), "{m}");
        p.kill().unwrap();
        assert_eq!(join(&p), -9);
        assert!(
            eventually(Duration::from_secs(20), || !exists_in_dev_shm(&name)),
            "{m}: the tracker did not unlink {name}"
        );
    }
    let name = shm_name("leaked");
    let p = started(
        Process::new(create_and_exit_without_drop, (name.clone(),)),
        StartMethod::Forkserver,
    );
    assert_eq!(join(&p), 0);
    assert!(eventually(Duration::from_secs(20), || !exists_in_dev_shm(
        &name
    )));
}

fn set_items(list: ShareableList) {
    list.set(0, "changed").unwrap();
    list.set(3, Item::Bytes(b"\0\0".to_vec())).unwrap();
}

#[test]
fn shareable_list_round_trips_exactly_across_processes() {
    let _d = deadline(LONG);
    let items = vec![
        Item::Str("hello".into()),
        Item::Int(-42),
        Item::Float(2.5),
        Item::Bytes(b"ab\0\0".to_vec()),
        Item::None,
        Item::Bool(true),
        Item::Str(String::new()),
    ];
    let name = shm_name("list");
    let list = ShareableList::create(name.as_str(), items.clone()).unwrap();
    assert_eq!(list.len(), 7);
    assert_eq!(list.to_vec().unwrap(), items);
    let attached = ShareableList::open(&name).unwrap();
    assert_eq!(attached.to_vec().unwrap(), items, "trailing NULs kept");
    for m in [StartMethod::Spawn, StartMethod::Fork] {
        let p = started(Process::new(set_items, (list.clone(),)), m);
        assert_eq!(join(&p), 0);
    }
    assert_eq!(attached.get(0).unwrap(), Item::Str("changed".into()));
    assert_eq!(attached.get(3).unwrap(), Item::Bytes(b"\0\0".to_vec()));
    assert_eq!(list.count(&Item::None).unwrap(), 1);
    assert_eq!(list.index(&Item::Float(2.5)).unwrap(), Some(2));
    list.set(4, 7i64).unwrap();
    assert_eq!(list.get(4).unwrap(), Item::Int(7));
    drop(attached);
    drop(list);
    assert!(!exists_in_dev_shm(&name));
}

#[test]
fn shareable_list_errors_leave_neighbours_intact() {
    let _d = deadline(LONG);
    let list = ShareableList::create(None, ["abc", "defgh", "ij"]).unwrap();
    assert_eq!(list.capacity(1).unwrap(), 8);
    assert_eq!(list.get(3).unwrap_err().kind(), ErrorKind::OutOfRange);
    assert_eq!(list.set(3, 1i64).unwrap_err().kind(), ErrorKind::OutOfRange);
    assert_eq!(
        list.set(1, "this is far too long").unwrap_err().kind(),
        ErrorKind::TooLong
    );
    list.set(1, "12345678").unwrap();
    assert_eq!(
        list.to_vec().unwrap(),
        [Item::from("abc"), Item::from("12345678"), Item::from("ij")]
    );
    assert_eq!(
        ShareableList::open("surely_missing_list")
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let plain = SharedMemory::create(None, 64).unwrap();
    assert_eq!(
        ShareableList::open(plain.name()).unwrap_err().kind(),
        ErrorKind::WrongType
    );
}
