//! Object and server lifetimes: reference counting across processes, and a
//! server that never outlives its owner.

use mp_manager::{DictProxy, ListProxy, Manager};
use mp_pipe::Connection;
use mp_process::Process;

use crate::{DEADLINE, PATIENCE};

/// Waits until the server frees an object this process releases now: by
/// then the grace period of everything released before it has passed and
/// the reaper has been over it, so an object still alive is kept alive by
/// a hold, not by timing. (Had an earlier one lost its last hold, it would
/// be gone too.)
fn after_a_reaper_pass(manager: &Manager) {
    let before = manager.number_of_objects().unwrap();
    drop(manager.list::<u8>().unwrap());
    assert!(
        mp_testkit::eventually(PATIENCE, || {
            manager.number_of_objects().unwrap() <= before
        }),
        "the server never freed a released object"
    );
}

/// Objects live while a proxy of them exists, and are freed after the last
/// one is dropped; a list of dict proxies keeps the dicts alive.
#[test]
fn objects_are_freed_after_their_last_proxy() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let base = manager.number_of_objects().unwrap();
    {
        let list = manager.list::<u32>().unwrap();
        let copy = list.clone();
        let _dict = manager.dict::<u32, u32>().unwrap();
        assert_eq!(manager.number_of_objects().unwrap(), base + 2);
        drop(list);
        copy.append(&1).unwrap();
    }
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base
    }));

    let outer = manager.list::<DictProxy<String, u32>>().unwrap();
    {
        let inner = manager.dict::<String, u32>().unwrap();
        inner.insert("a", &1).unwrap();
        outer.append(&inner).unwrap();
    }
    // Past the grace period, the dict is still alive: the list holds it.
    after_a_reaper_pass(&manager);
    assert_eq!(manager.number_of_objects().unwrap(), base + 2);
    let inner = outer.get(0).unwrap();
    assert_eq!(inner.get("a").unwrap(), Some(1));
    inner.insert("b", &2).unwrap();
    assert_eq!(outer.get(0).unwrap().get("b").unwrap(), Some(2));
    outer.clear().unwrap();
    drop(inner);
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base + 1
    }));
    drop(outer);
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base
    }));
}

/// `set` over an entry that held a proxy lets that object go; the new one
/// stays alive while the dict holds it.
#[test]
fn setting_over_a_held_proxy_releases_it() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let base = manager.number_of_objects().unwrap();
    let outer = manager.dict::<String, DictProxy<String, u32>>().unwrap();
    let first = manager.dict::<String, u32>().unwrap();
    first.set("a", &1).unwrap();
    outer.set("k", &first).unwrap();
    drop(first);
    let second = manager.dict::<String, u32>().unwrap();
    outer.set("k", &second).unwrap();
    drop(second);
    // `first` goes (once past its grace period, whenever the reaper runs)...
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base + 2
    }));
    // ...while `second`, past its grace period too, lives in `outer`.
    after_a_reaper_pass(&manager);
    assert_eq!(outer.get("k").unwrap().unwrap().len().unwrap(), 0);
    assert_eq!(manager.number_of_objects().unwrap(), base + 2);
    drop(outer);
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base
    }));
}

/// A proxy used as a dict key is compared, not held: the dict does not
/// keep its object alive (a value would).
#[test]
fn a_proxy_as_a_dict_key_is_not_held() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let base = manager.number_of_objects().unwrap();
    let dict = manager.dict::<ListProxy<u8>, ListProxy<u8>>().unwrap();
    let key = manager.list::<u8>().unwrap();
    let value = manager.list::<u8>().unwrap();
    dict.set(&key, &value).unwrap();
    assert!(dict.contains_key(&key).unwrap());
    drop((key, value));
    // The key goes; the value stays, held by the dict.
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base + 2
    }));
    after_a_reaper_pass(&manager);
    assert_eq!(manager.number_of_objects().unwrap(), base + 2);
    assert_eq!(dict.values().unwrap().len(), 1);
}

fn use_later(go: Connection, proxies: Connection) -> usize {
    go.recv::<()>().unwrap();
    let list: ListProxy<u32> = proxies.recv().unwrap();
    list.append(&7).unwrap();
    list.len().unwrap()
}

/// A proxy sent to a child keeps its object alive even when the parent
/// drops every proxy of it before the child decodes it (the sender parks a
/// hold for the receiver).
#[test]
fn a_child_keeps_an_object_alive_after_the_parent_drops_it() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let base = manager.number_of_objects().unwrap();
    let list = manager.list_from([1u32]).unwrap();
    let (go, their_go) = mp_pipe::pipe().unwrap();
    let (proxies, their_proxies) = mp_pipe::pipe().unwrap();
    let handle = mp_process::spawn(use_later, (their_go, their_proxies)).unwrap();
    // The child reads the proxy only when told to: until then the parked
    // hold is all that keeps the list alive.
    proxies.send(&list).unwrap();
    drop(list);
    after_a_reaper_pass(&manager);
    assert_eq!(manager.number_of_objects().unwrap(), base + 1);
    go.send(&()).unwrap();
    assert_eq!(handle.join().unwrap(), 2);
    // The child is gone: the list goes too.
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base
    }));
}

fn own_a_manager(report: Connection) {
    let manager = Manager::start().unwrap();
    let list = manager.list_from([1u8]).unwrap();
    report.send(&manager.pid().unwrap()).unwrap();
    drop(list);
    // Owns the manager until killed.
    loop {
        std::thread::park();
    }
}

/// The server dies with its owner, even when the owner is SIGKILLed.
#[test]
fn the_server_never_outlives_a_killed_owner() {
    let _d = mp_testkit::deadline(DEADLINE);
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut owner = Process::new(own_a_manager, (theirs,));
    owner.start().unwrap();
    let server: u32 = ours.recv_timeout(PATIENCE).unwrap();
    assert!(mp_testkit::is_running(server));
    owner.kill().unwrap();
    owner.join_timeout(PATIENCE).unwrap();
    assert!(mp_testkit::eventually(PATIENCE, || {
        !mp_testkit::is_running(server)
    }));
}

/// Dropping the manager stops (and reaps) its server.
#[test]
fn dropping_the_manager_stops_the_server() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let server = manager.pid().unwrap();
    assert!(mp_testkit::is_running(server));
    drop(manager);
    assert!(!mp_testkit::is_running(server));
}

/// A proxy of one manager stored in another manager's list comes back live,
/// as often as it is read.
#[test]
fn a_proxy_of_another_manager_can_be_stored() {
    let _d = mp_testkit::deadline(DEADLINE);
    let m1 = Manager::start().unwrap();
    let m2 = Manager::start().unwrap();
    let list = m1.list::<DictProxy<String, u32>>().unwrap();
    {
        let dict = m2.dict::<String, u32>().unwrap();
        list.append(&dict).unwrap();
    }
    // The dict's only hold is the one parked for the list's token.
    after_a_reaper_pass(&m2);
    for round in 1..=3 {
        let dict = list.get(0).unwrap();
        dict.fetch_add("reads", 1).unwrap();
        assert_eq!(dict.get("reads").unwrap(), Some(round));
    }
    assert_eq!(m2.number_of_objects().unwrap(), 1);
}
