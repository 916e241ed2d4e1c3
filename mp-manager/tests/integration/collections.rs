//! The data proxies, method by method, and registered user types.

use mp_manager::{
    BaseManager, Error, ListProxy, Manager, QueueProxy, Registrar, Registry, RemoteError,
    ServerObject, Shared, SharedProxy, decode_args, encode_result,
};
use mp_process::StartMethod;

use crate::DEADLINE;

#[test]
fn list_proxy_does_what_a_python_list_does() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list::<String>().unwrap();
    assert!(list.is_empty().unwrap());
    list.append("b").unwrap();
    list.extend(["c".to_string(), "a".to_string()]).unwrap();
    list.insert(0, "z").unwrap();
    list.insert(99, "end").unwrap();
    assert_eq!(list.to_vec().unwrap(), ["z", "b", "c", "a", "end"]);
    assert_eq!(list.get(1).unwrap(), "b");
    assert!(matches!(
        list.get(5),
        Err(Error::IndexOutOfRange { index: 5, len: 5 })
    ));
    list.set(1, "B").unwrap();
    assert!(matches!(
        list.set(9, "x"),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert_eq!(list.pop().unwrap().as_deref(), Some("end"));
    assert_eq!(list.pop_at(0).unwrap(), "z");
    assert_eq!(list.to_vec().unwrap(), ["B", "c", "a"]);
    list.append("c").unwrap();
    assert_eq!(list.count("c").unwrap(), 2);
    assert_eq!(list.index("c").unwrap(), Some(1));
    assert_eq!(list.index("nope").unwrap(), None);
    assert!(list.contains("a").unwrap());
    assert!(list.remove("c").unwrap());
    assert!(!list.remove("nope").unwrap());
    assert_eq!(list.to_vec().unwrap(), ["B", "a", "c"]);
    assert_eq!(list.slice(1..).unwrap(), ["a", "c"]);
    assert_eq!(list.slice(..=0).unwrap(), ["B"]);
    assert_eq!(list.slice(2..10).unwrap(), ["c"]);
    list.sort().unwrap();
    assert_eq!(list.to_vec().unwrap(), ["B", "a", "c"]);
    list.sort_by_key(|s| s.to_lowercase()).unwrap();
    assert_eq!(list.to_vec().unwrap(), ["a", "B", "c"]);
    list.reverse().unwrap();
    assert_eq!(list.to_vec().unwrap(), ["c", "B", "a"]);
    let n = list
        .update_with(|v| {
            v.retain(|s| s != "B");
            v.len()
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(list.len().unwrap(), 2);
    list.clear().unwrap();
    assert!(list.is_empty().unwrap());
    assert_eq!(list.pop().unwrap(), None);
}

/// `sort` and `update_with` stay correct while other threads append.
#[test]
fn list_read_modify_write_is_atomic_under_contention() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list::<u32>().unwrap();
    std::thread::scope(|s| {
        for t in 0..3u32 {
            let list = &list;
            s.spawn(move || {
                for i in 0..40 {
                    list.update_with(|v| v.push(t * 1000 + i)).unwrap();
                    if i % 10 == 0 {
                        list.sort().unwrap();
                    }
                }
            });
        }
    });
    let mut all = list.to_vec().unwrap();
    assert_eq!(all.len(), 120);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 120);
}

#[test]
fn dict_proxy_does_what_a_python_dict_does() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let dict = manager
        .dict_from([("one".to_string(), 1i64), ("two".to_string(), 2)])
        .unwrap();
    assert_eq!(dict.len().unwrap(), 2);
    assert_eq!(dict.insert("three", &3).unwrap(), None);
    assert_eq!(dict.insert("one", &10).unwrap(), Some(1));
    assert_eq!(dict.get("one").unwrap(), Some(10));
    // `d[k] = v`: nothing comes back.
    dict.set("two", &20).unwrap();
    assert_eq!(dict.get("two").unwrap(), Some(20));
    dict.set("two", &2).unwrap();
    assert_eq!(dict.get("nope").unwrap(), None);
    assert!(dict.contains_key("two").unwrap());
    assert!(!dict.contains_key("nope").unwrap());
    // Insertion order, as in Python (a replaced key keeps its place).
    assert_eq!(dict.keys().unwrap(), ["one", "two", "three"]);
    assert_eq!(dict.values().unwrap(), [10, 2, 3]);
    assert_eq!(dict.remove("two").unwrap(), Some(2));
    assert_eq!(dict.remove("two").unwrap(), None);
    dict.update([("four".to_string(), 4), ("one".to_string(), 1)])
        .unwrap();
    assert_eq!(
        dict.items().unwrap(),
        [
            ("one".to_string(), 1),
            ("three".to_string(), 3),
            ("four".to_string(), 4)
        ]
    );
    assert_eq!(dict.setdefault("five", &5).unwrap(), 5);
    assert_eq!(dict.setdefault("five", &50).unwrap(), 5);
    assert_eq!(dict.popitem().unwrap(), Some(("five".to_string(), 5)));
    assert_eq!(dict.fetch_add("one", 41).unwrap(), 1);
    assert_eq!(dict.fetch_sub("new", 1).unwrap(), 0);
    assert_eq!(dict.get("new").unwrap(), Some(-1));
    let doubled = dict
        .update_with("three", |v| {
            *v = v.map(|x| x * 2);
            *v
        })
        .unwrap();
    assert_eq!(doubled, Some(6));
    dict.update_with("three", |v| *v = None).unwrap();
    assert!(!dict.contains_key("three").unwrap());
    dict.clear().unwrap();
    assert!(dict.is_empty().unwrap());
    assert_eq!(dict.popitem().unwrap(), None);
}

#[test]
fn namespace_holds_named_fields_of_any_type() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let ns = manager.namespace().unwrap();
    ns.set("x", &1.5f64).unwrap();
    ns.set("name", "alpha").unwrap();
    ns.set("list", &vec![1u8, 2, 3]).unwrap();
    assert_eq!(ns.get::<f64>("x").unwrap(), 1.5);
    assert_eq!(ns.get::<String>("name").unwrap(), "alpha");
    assert_eq!(ns.get::<Vec<u8>>("list").unwrap(), [1, 2, 3]);
    assert!(matches!(ns.get::<u8>("nope"), Err(Error::NoAttribute(n)) if n == "nope"));
    assert_eq!(ns.get_opt::<u8>("nope").unwrap(), None);
    // Reading with the wrong type is a decode error, not garbage.
    assert!(matches!(ns.get::<u64>("name"), Err(Error::Decode(_))));
    assert!(ns.contains("x").unwrap());
    assert_eq!(ns.names().unwrap(), ["x", "name", "list"]);
    assert!(ns.remove("x").unwrap());
    assert!(!ns.remove("x").unwrap());
    assert_eq!(ns.fetch_add("count", 2u32).unwrap(), 0);
    assert_eq!(ns.fetch_sub("count", 1u32).unwrap(), 2);
    ns.update_with("list", |v: &mut Option<Vec<u8>>| {
        v.as_mut().unwrap().push(4)
    })
    .unwrap();
    assert_eq!(ns.get::<Vec<u8>>("list").unwrap(), [1, 2, 3, 4]);
}

#[test]
fn value_and_array_proxies() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let value = manager.value(&String::from("a")).unwrap();
    assert_eq!(value.get().unwrap(), "a");
    value.set("b").unwrap();
    assert_eq!(value.swap("c").unwrap(), "b");
    assert_eq!(
        value
            .compare_exchange(&"x".to_string(), &"y".to_string())
            .unwrap(),
        Err("c".to_string())
    );
    assert_eq!(
        value
            .compare_exchange(&"c".to_string(), &"d".to_string())
            .unwrap(),
        Ok("c".to_string())
    );
    value.update_with(|s| s.push('!')).unwrap();
    assert_eq!(value.get().unwrap(), "d!");

    let number = manager.value(&10u8).unwrap();
    assert_eq!(number.fetch_sub(11).unwrap(), 10);
    assert_eq!(number.get().unwrap(), 255);
    let float = manager.value(&0.5f32).unwrap();
    float.fetch_add(0.25).unwrap();
    assert_eq!(float.get().unwrap(), 0.75);

    let array = manager.array([1i32, 2, 3]).unwrap();
    assert_eq!(array.len().unwrap(), 3);
    assert_eq!(array.get(2).unwrap(), 3);
    array.set(0, &7).unwrap();
    assert_eq!(array.fetch_add(1, 10).unwrap(), 2);
    assert_eq!(array.fetch_sub(2, 1).unwrap(), 3);
    assert_eq!(array.to_vec().unwrap(), [7, 12, 2]);
    assert!(matches!(array.get(3), Err(Error::IndexOutOfRange { .. })));
    array.set_all([0, 0, 1]).unwrap();
    assert_eq!(array.to_vec().unwrap(), [0, 0, 1]);
    assert!(matches!(
        array.set_all([1, 2]),
        Err(Error::WrongType { .. })
    ));

    // update_with from racing threads loses nothing.
    let counter = manager.value(&0u32).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    counter.update_with(|n| *n += 1).unwrap();
                }
            });
        }
    });
    assert_eq!(counter.get().unwrap(), 100);
}

/// `get` returns a copy: changing it changes nothing on the server (no
/// silently lost nested mutation, because nothing pretends to be live).
#[test]
fn get_returns_an_owned_copy() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let list = manager.list_from([vec![1, 2]]).unwrap();
    let mut copy = list.get(0).unwrap();
    copy.push(3);
    assert_eq!(list.get(0).unwrap(), [1, 2]);
    list.set(0, &copy).unwrap();
    assert_eq!(list.get(0).unwrap(), [1, 2, 3]);
}

struct Counter {
    value: i64,
}

impl Shared for Counter {
    fn exposed() -> &'static [&'static str] {
        &["add", "get", "boom"]
    }

    fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, RemoteError> {
        match method {
            "add" => {
                let (n,): (i64,) = decode_args(args)?;
                if n < 0 {
                    return Err(RemoteError::new("negative increments are refused"));
                }
                self.value += n;
                encode_result(&self.value)
            }
            "get" => encode_result(&self.value),
            "boom" => mp_testkit::panic_quietly("boom was called"),
            "secret" => encode_result("should never be reachable"),
            _ => Err(RemoteError::new(format!("no method {method}"))),
        }
    }
}

struct Counters;

impl Registry for Counters {
    fn register(registrar: &mut Registrar) {
        registrar
            .register_type("Counter", |(value,): (i64,)| Counter { value })
            .register(
                "shared_counter",
                ServerObject::shared(Counter { value: 100 }),
            )
            .register("get_queue", ServerObject::queue());
    }
}

/// User types: only exposed methods are callable, errors and panics are
/// remote errors for that call, the server keeps serving.
#[test]
fn registered_user_types_expose_only_their_methods() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = BaseManager::new()
        .registry::<Counters>()
        .start_method(StartMethod::Spawn)
        .start()
        .unwrap();
    let a: SharedProxy = manager.get_with("Counter", &(5i64,)).unwrap();
    let b: SharedProxy = manager.get_with("Counter", &(0i64,)).unwrap();
    assert_eq!(a.typeid(), Some("Counter"));
    assert_eq!(a.call::<_, i64>("add", &(3i64,)).unwrap(), 8);
    assert_eq!(b.call::<_, i64>("get", &()).unwrap(), 0);
    assert!(matches!(
        a.call::<_, String>("secret", &()),
        Err(Error::NotExposed(m)) if m == "secret"
    ));
    assert!(matches!(
        a.call::<_, i64>("add", &(-1i64,)),
        Err(Error::Remote(e)) if e.message().contains("refused")
    ));
    assert!(matches!(
        a.call::<_, i64>("add", &"text"),
        Err(Error::Remote(_))
    ));
    assert!(
        matches!(a.call::<_, i64>("boom", &()), Err(Error::Remote(e)) if e.message().contains("panicked"))
    );
    assert_eq!(a.call::<_, i64>("get", &()).unwrap(), 8);

    // A fixed registered object is the same object for every caller.
    let s1: SharedProxy = manager.get("shared_counter").unwrap();
    let s2: SharedProxy = manager.get("shared_counter").unwrap();
    s1.call::<_, i64>("add", &(1i64,)).unwrap();
    assert_eq!(s2.call::<_, i64>("get", &()).unwrap(), 101);

    // The wrong proxy type for a typeid, and an unknown typeid.
    assert!(matches!(
        manager.get::<ListProxy<i32>>("get_queue"),
        Err(Error::WrongType { .. })
    ));
    let q: QueueProxy<u8> = manager.get("get_queue").unwrap();
    q.put(&1).unwrap();
    assert!(matches!(
        manager.get::<SharedProxy>("nope"),
        Err(Error::UnknownTypeid(n)) if n == "nope"
    ));
    assert!(matches!(
        manager.get_with::<SharedProxy, _>("Counter", &"not a tuple"),
        Err(Error::Remote(_))
    ));
}

/// Registrations made in this process's memory reach a forked server and
/// an in-process server, and are refused (clearly) for a spawned one.
#[test]
fn dynamic_registrations_need_fork_or_an_in_process_server() {
    let _d = mp_testkit::deadline(DEADLINE);
    let base = || {
        BaseManager::new()
            .register("get_list", ServerObject::list_from([1, 2, 3]).unwrap())
            .register_type("Counter", |(value,): (i64,)| Counter { value })
    };
    let err = base().start_method(StartMethod::Spawn).start().unwrap_err();
    assert!(matches!(err, Error::Start(_)), "{err}");

    let forked = base().start_method(StartMethod::Fork).start().unwrap();
    let list: ListProxy<i32> = forked.get("get_list").unwrap();
    assert_eq!(list.to_vec().unwrap(), [1, 2, 3]);

    let server = base().get_server().unwrap();
    let address = server.address().clone();
    std::thread::spawn(move || server.serve_forever());
    let client = BaseManager::new().address(address).connect().unwrap();
    let counter: SharedProxy = client.get_with("Counter", &(41i64,)).unwrap();
    assert_eq!(counter.call::<_, i64>("add", &(1i64,)).unwrap(), 42);
    let list: ListProxy<i32> = client.get("get_list").unwrap();
    list.append(&4).unwrap();
    assert_eq!(list.len().unwrap(), 4);
}
