//! Iterating remote lists, dicts and shared objects' iterator methods in
//! batches: round trips counted by the server, defined behaviour under
//! mutation, cursors freed when the iterator (or its process) goes.

use mp_manager::{
    BaseManager, Error, ListProxy, Manager, Registrar, Registry, RemoteError, Shared, SharedIter,
    SharedProxy, decode_args, encode_result,
};
use mp_pipe::Connection;
use mp_process::Process;

use crate::{DEADLINE, PATIENCE};

fn round_trips(manager: &Manager) -> u64 {
    manager.debug_info().unwrap().round_trips
}

/// Round trips `f` made (the look at the counter after it is one).
fn counted<R>(manager: &Manager, f: impl FnOnce() -> R) -> (R, u64) {
    let before = round_trips(manager);
    let result = f();
    (result, round_trips(manager) - before - 1)
}

#[test]
fn a_10k_list_iterates_in_one_round_trip_per_batch() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list_from(0..10_000u32).unwrap();
    for batch in [128usize, 100, 4096] {
        let (items, trips) = counted(&manager, || {
            list.iter_batched(batch)
                .unwrap()
                .collect::<Result<Vec<u32>, _>>()
                .unwrap()
        });
        assert_eq!(items, (0..10_000).collect::<Vec<_>>(), "batch {batch}");
        assert_eq!(trips, 10_000u64.div_ceil(batch as u64), "batch {batch}");
    }
    // An empty list: one round trip, no cursor.
    let empty = manager.list::<u32>().unwrap();
    let (it, trips) = counted(&manager, || empty.iter().unwrap());
    assert!(!it.has_cursor());
    assert_eq!(it.count(), 0);
    assert_eq!(trips, 1);
}

fn sum_in_a_child(list: ListProxy<u32>, report: Connection) {
    let total: u64 = list.iter().unwrap().map(|n| u64::from(n.unwrap())).sum();
    report.send(&total).unwrap();
}

#[test]
fn a_child_process_iterates_a_list_it_was_given() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list_from(0..10_000u32).unwrap();
    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut p = Process::new(sum_in_a_child, (list.clone(), theirs));
    p.start().unwrap();
    assert_eq!(ours.recv_timeout::<u64>(PATIENCE).unwrap(), 49_995_000);
    assert_eq!(p.join_timeout(PATIENCE).unwrap(), Some(0));
}

/// Lists: a position, as Python's list iterator; dicts: insertion order,
/// each entry at most once, removed ones skipped, added ones seen.
#[test]
fn changes_during_an_iteration_are_seen_as_documented() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();

    let list = manager.list_from(0..30u32).unwrap();
    let mut it = list.iter_batched(10).unwrap();
    let mut seen: Vec<u32> = it.by_ref().take(10).map(Result::unwrap).collect();
    list.extend([100, 101]).unwrap();
    list.pop_at(0).unwrap(); // shifts what comes next: 10 is skipped
    seen.extend(it.map(Result::unwrap));
    let expected: Vec<u32> = (0..10).chain(11..30).chain([100, 101]).collect();
    assert_eq!(seen, expected);

    let pairs = (0..30u32).map(|i| (format!("k{i}"), i));
    let dict = manager.dict_from(pairs).unwrap();
    let mut it = dict.iter_batched(10).unwrap();
    let mut seen: Vec<(String, u32)> = it.by_ref().take(10).map(Result::unwrap).collect();
    dict.remove("k5").unwrap(); // already seen
    dict.remove("k15").unwrap(); // not yet reached: not seen
    dict.set("k20", &2000).unwrap(); // seen with its new value
    dict.set("k30", &30).unwrap(); // added: seen, last
    seen.extend(it.map(Result::unwrap));
    let mut expected: Vec<(String, u32)> = (0..30)
        .filter(|&i| i != 15)
        .map(|i| (format!("k{i}"), if i == 20 { 2000 } else { i }))
        .collect();
    expected.push(("k30".into(), 30));
    assert_eq!(seen, expected);
}

fn iterate_and_die(list: ListProxy<u32>, report: Connection) {
    let it = list.iter_batched(10).unwrap();
    assert!(it.has_cursor());
    report.send(&()).unwrap();
    // Exits without dropping the iterator.
    std::mem::forget(it);
    std::process::exit(0);
}

#[test]
fn a_cursor_is_freed_when_its_iterator_or_its_process_goes() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list_from(0..100u32).unwrap();
    let base = manager.number_of_objects().unwrap();
    let freed =
        || mp_testkit::eventually(PATIENCE, || manager.number_of_objects().unwrap() == base);

    let it = list.iter_batched(10).unwrap();
    assert_eq!(manager.number_of_objects().unwrap(), base + 1);
    drop(it);
    assert!(freed(), "a dropped iterator's cursor stayed");

    let mut it = list.iter_batched(10).unwrap();
    assert_eq!(it.by_ref().count(), 100);
    assert!(!it.has_cursor());
    assert!(freed(), "a finished iterator's cursor stayed");

    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut p = Process::new(iterate_and_die, (list.clone(), theirs));
    p.start().unwrap();
    ours.recv_timeout::<()>(PATIENCE).unwrap();
    assert_eq!(p.join_timeout(PATIENCE).unwrap(), Some(0));
    assert!(freed(), "a dead client's cursor stayed");
    // The list itself is still there and whole.
    assert_eq!(list.len().unwrap(), 100);
}

/// A registered type with an iterator method, like a generator.
struct Squares;

impl Shared for Squares {
    fn exposed() -> &'static [&'static str] {
        &[]
    }

    fn call(&mut self, method: &str, _: &[u8]) -> Result<Vec<u8>, RemoteError> {
        Err(RemoteError::new(format!("no method {method}")))
    }

    fn iterators() -> &'static [&'static str] {
        &["up_to", "failing"]
    }

    fn iterate(&mut self, method: &str, args: &[u8]) -> Result<SharedIter, RemoteError> {
        let (n,): (u64,) = decode_args(args)?;
        match method {
            "up_to" => Ok(Box::new((0..n).map(|i| encode_result(&(i * i))))),
            _ => Ok(Box::new((0..n).map(|i| {
                if i >= 5 {
                    mp_testkit::panic_quietly(format!("the generator broke at {i}"));
                }
                encode_result(&i)
            }))),
        }
    }
}

struct SquaresRegistry;

impl Registry for SquaresRegistry {
    fn register(registrar: &mut Registrar) {
        registrar.register_type("Squares", |(): ()| Squares);
    }
}

#[test]
fn a_shared_object_exposes_an_iterator_method() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = BaseManager::new()
        .registry::<SquaresRegistry>()
        .start()
        .unwrap();
    let squares: SharedProxy = manager.get_with("Squares", &()).unwrap();
    let (items, trips) = counted(&manager, || {
        squares
            .iter::<_, u64>("up_to", &(1000u64,), 64)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    });
    assert_eq!(items, (0..1000u64).map(|i| i * i).collect::<Vec<_>>());
    assert_eq!(trips, 1000u64.div_ceil(64));
    assert!(matches!(
        squares.iter::<_, u64>("secret", &(1u64,), 8),
        Err(Error::NotExposed(name)) if name == "secret"
    ));
    // A panic in the generator ends the iteration with a remote error;
    // the server goes on.
    let mut it = squares.iter::<_, u64>("failing", &(100u64,), 4).unwrap();
    let good: Vec<u64> = it.by_ref().take(4).map(Result::unwrap).collect();
    assert_eq!(good, [0, 1, 2, 3]);
    match it.next() {
        Some(Err(Error::Remote(e))) => assert!(e.message().contains("broke at 5"), "{e}"),
        other => panic!("expected the generator's panic, got {other:?}"),
    }
    assert!(it.next().is_none());
    assert_eq!(
        squares
            .iter::<_, u64>("up_to", &(3u64,), 8)
            .unwrap()
            .count(),
        3
    );
}
