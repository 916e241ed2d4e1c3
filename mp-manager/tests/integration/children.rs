//! Proxies shared with child processes and threads.

use std::collections::BTreeMap;

use mp_manager::{
    ArrayProxy, BaseManager, DictProxy, ListProxy, Manager, Namespace, QueueProxy, ValueProxy,
};
use mp_pipe::Connection;
use mp_process::{Context, Process, StartMethod};

use crate::{DEADLINE, PATIENCE};

type Record = (String, u32);

// The tutorial's children print; these return what they saw instead (a
// child's stdout is not the test's, so libtest cannot capture it).
fn insert_record(record: Record, records: ListProxy<Record>) {
    records.append(&record).unwrap();
}

fn print_records(records: ListProxy<Record>) -> Vec<Record> {
    records.to_vec().unwrap()
}

fn seed_records() -> Vec<Record> {
    vec![("Sam".into(), 10), ("Adam".into(), 9), ("Kevin".into(), 9)]
}

/// The seed tutorial's program: a records list in the manager, one child
/// appends, another prints; server and children under every start method.
#[test]
fn records_list_is_shared_with_children_under_every_start_method() {
    let _d = mp_testkit::deadline(DEADLINE * 2);
    for method in StartMethod::ALL {
        let manager = BaseManager::new().start_method(method).start().unwrap();
        let records = manager.list_from(seed_records()).unwrap();
        let mut p1 = Process::new(insert_record, (("Jeff".to_string(), 8), records.clone()))
            .start_method(method);
        p1.start().unwrap();
        assert_eq!(p1.join_timeout(PATIENCE).unwrap(), Some(0), "{method}");
        let seen = Context::new(method)
            .spawn(print_records, (records.clone(),))
            .unwrap()
            .join()
            .unwrap();
        let mut expected = seed_records();
        expected.push(("Jeff".into(), 8));
        assert_eq!(seen, expected, "{method}");
        assert_eq!(records.to_vec().unwrap(), expected, "{method}");
    }
}

const CHILDREN: u32 = 4;
const ROUNDS: u32 = 25;

fn mutate(totals: DictProxy<String, u64>, seen: DictProxy<u32, Vec<u32>>, ns: Namespace, id: u32) {
    for round in 0..ROUNDS {
        totals.fetch_add("total", 1).unwrap();
        totals
            .insert(&format!("child-{id}-{round}"), &u64::from(round))
            .unwrap();
        seen.update_with(&(round % 3), |v| v.get_or_insert_with(Vec::new).push(id))
            .unwrap();
        ns.fetch_add("count", 1u64).unwrap();
        ns.update_with("ids", |v: &mut Option<Vec<u32>>| {
            v.get_or_insert_with(Vec::new).push(id)
        })
        .unwrap();
    }
    ns.set(&format!("done_{id}"), &true).unwrap();
}

/// Several children mutate one dict and one namespace at once; the atomic
/// helpers lose nothing.
#[test]
fn dict_and_namespace_mutations_from_several_children_add_up() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let totals = manager.dict::<String, u64>().unwrap();
    let seen = manager.dict::<u32, Vec<u32>>().unwrap();
    let ns = manager.namespace().unwrap();
    let mut children: Vec<Process> = (0..CHILDREN)
        .map(|id| Process::new(mutate, (totals.clone(), seen.clone(), ns.clone(), id)))
        .collect();
    for child in &mut children {
        child.start().unwrap();
    }
    for child in &children {
        assert_eq!(child.join_timeout(PATIENCE).unwrap(), Some(0));
    }
    let n = u64::from(CHILDREN * ROUNDS);
    assert_eq!(totals.get("total").unwrap(), Some(n));
    assert_eq!(totals.len().unwrap(), 1 + (CHILDREN * ROUNDS) as usize);
    let per_bucket: usize = seen.values().unwrap().iter().map(Vec::len).sum();
    assert_eq!(per_bucket as u64, n);
    assert_eq!(ns.get::<u64>("count").unwrap(), n);
    let ids = ns.get::<Vec<u32>>("ids").unwrap();
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    assert_eq!(counts, (0..CHILDREN).map(|id| (id, ROUNDS)).collect());
    for id in 0..CHILDREN {
        assert!(ns.get::<bool>(&format!("done_{id}")).unwrap());
    }
}

fn add_ten(value: ValueProxy<i64>, array: ArrayProxy<i64>) {
    for _ in 0..10 {
        value.fetch_add(1).unwrap();
        array.fetch_add(1, 2).unwrap();
    }
}

/// A forked child uses the proxies it inherited in memory (re-homed to its
/// own session).
#[test]
fn a_forked_child_uses_inherited_proxies() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let value = manager.value(&0i64).unwrap();
    let array = manager.array([0i64; 3]).unwrap();
    let mut children: Vec<Process> = (0..3)
        .map(|_| {
            Process::new(add_ten, (value.clone(), array.clone())).start_method(StartMethod::Fork)
        })
        .collect();
    for child in &mut children {
        child.start().unwrap();
    }
    for child in &children {
        assert_eq!(child.join_timeout(PATIENCE).unwrap(), Some(0));
    }
    assert_eq!(value.get().unwrap(), 30);
    assert_eq!(array.to_vec().unwrap(), [0, 60, 0]);
}

fn producer_from_connection(conn: Connection) {
    let queue: QueueProxy<String> = conn.recv().unwrap();
    for i in 0..5 {
        queue.put(&format!("item {i}")).unwrap();
    }
}

/// A proxy sent over a `Connection` (not as an argument) works in the
/// receiving process.
#[test]
fn a_proxy_travels_over_a_connection() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let queue = manager.queue::<String>().unwrap();
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut child = Process::new(producer_from_connection, (theirs,));
    child.start().unwrap();
    ours.send(&queue).unwrap();
    for i in 0..5 {
        assert_eq!(queue.get_timeout(PATIENCE).unwrap(), format!("item {i}"));
    }
    assert_eq!(child.join_timeout(PATIENCE).unwrap(), Some(0));
}

fn fill_nested(outer: ListProxy<DictProxy<String, u32>>) {
    // A nested proxy read out of the list is live: the change lands on the
    // shared dict.
    let first = outer.get(0).unwrap();
    first.fetch_add("hits", 1).unwrap();
    // Storing it again from this process keeps it alive from the list too.
    outer.append(&first).unwrap();
}

/// A list of dict proxies: children reach the dicts through the list and
/// their changes land on the shared dicts.
#[test]
fn nested_proxies_stay_live_across_processes() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let outer = manager.list::<DictProxy<String, u32>>().unwrap();
    let inner = manager.dict::<String, u32>().unwrap();
    outer.append(&inner).unwrap();
    drop(inner);
    let mut children: Vec<Process> = (0..3)
        .map(|_| Process::new(fill_nested, (outer.clone(),)))
        .collect();
    for child in &mut children {
        child.start().unwrap();
    }
    for child in &children {
        assert_eq!(child.join_timeout(PATIENCE).unwrap(), Some(0));
    }
    assert_eq!(outer.len().unwrap(), 4);
    for dict in outer.to_vec().unwrap() {
        assert_eq!(dict.get("hits").unwrap(), Some(3));
    }
}

fn assert_send_sync<T: Send + Sync>() {}

/// Proxies (and the manager) are `Send + Sync`; threads share one proxy.
#[test]
fn proxies_are_shared_between_threads() {
    let _d = mp_testkit::deadline(DEADLINE);
    assert_send_sync::<Manager>();
    assert_send_sync::<ListProxy<String>>();
    assert_send_sync::<DictProxy<String, Vec<u8>>>();
    assert_send_sync::<Namespace>();
    assert_send_sync::<ValueProxy<i64>>();
    assert_send_sync::<ArrayProxy<f64>>();
    assert_send_sync::<QueueProxy<String>>();
    assert_send_sync::<mp_manager::JoinableQueueProxy<u8>>();
    assert_send_sync::<mp_manager::LockProxy>();
    assert_send_sync::<mp_manager::RLockProxy>();
    assert_send_sync::<mp_manager::SemaphoreProxy>();
    assert_send_sync::<mp_manager::EventProxy>();
    assert_send_sync::<mp_manager::ConditionProxy>();
    assert_send_sync::<mp_manager::BarrierProxy>();
    assert_send_sync::<mp_manager::SharedProxy>();

    let manager = Manager::start().unwrap();
    let counter = manager.value(&0u64).unwrap();
    let log = manager.list::<u32>().unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (counter, log) = (&counter, &log);
            s.spawn(move || {
                for _ in 0..50 {
                    counter.fetch_add(1).unwrap();
                    log.append(&t).unwrap();
                }
            });
        }
    });
    assert_eq!(counter.get().unwrap(), 200);
    assert_eq!(log.len().unwrap(), 200);
    // A moved clone works on another thread too.
    let moved = counter.clone();
    std::thread::spawn(move || moved.fetch_add(1).unwrap())
        .join()
        .unwrap();
    assert_eq!(counter.get().unwrap(), 201);
}
