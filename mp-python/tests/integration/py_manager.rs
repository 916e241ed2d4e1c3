//! mp's client of a CPython manager server (a real `SyncManager` server
//! process started here, every Python found): queue, dict and list with
//! Python's exceptions as mp-manager's typed errors, reference counts, a
//! queue shared with a Python producer, wrong keys, unknown typeids and
//! shutdown.

use std::time::Duration;

use mp_manager::Error;
use mp_python::{Address, PyManager};
use serde::Deserialize;

use crate::handshakes::{Script, socket_path};
use crate::python::{Python, all_pythons, hex};

const KEY: &[u8] = b"python manager key";

/// A SyncManager server with one extra typeid, `get_queue`, that always
/// returns the same queue.
const PY_SERVER: &str = r#"
import sys, queue
from multiprocessing.managers import SyncManager
family, address, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
shared = queue.Queue()
class M(SyncManager): pass
M.register('get_queue', callable=lambda: shared)
if family == 'AF_INET':
    address = ('127.0.0.1', 0)
server = M(address=address, authkey=key).get_server()
print(server.address[1] if family == 'AF_INET' else 'ready', flush=True)
server.serve_forever()
"#;

/// A stdlib client that puts `n` dicts into the server's `get_queue`.
const PY_PRODUCER: &str = r#"
import sys
from multiprocessing.managers import BaseManager
family, address, key, n = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
if family == 'AF_INET':
    address = ('127.0.0.1', int(address))
class M(BaseManager): pass
M.register('get_queue')
m = M(address=address, authkey=key)
m.connect()
q = m.get_queue()
for i in range(n):
    q.put({'i': i, 'square': i * i, 'name': 'item %d' % i})
print('done', flush=True)
"#;

#[derive(Deserialize, Debug, PartialEq)]
struct Item {
    i: u64,
    square: u64,
    name: String,
}

/// A running Python manager server.
struct Server {
    script: Script,
    address: Address,
    family: &'static str,
    arg: String,
}

fn start_server(python: &Python, family: &'static str) -> Server {
    let path = socket_path();
    let mut script = Script::start(
        python,
        PY_SERVER,
        &[family, path.to_str().unwrap(), &hex(KEY)],
    );
    let ready = script.line();
    let (address, arg) = if family == "AF_UNIX" {
        assert_eq!(ready, "ready");
        (
            Address::Unix(path.clone()),
            path.to_str().unwrap().to_owned(),
        )
    } else {
        (Address::localhost(ready.parse().unwrap()), ready)
    };
    Server {
        script,
        address,
        family,
        arg,
    }
}

fn queue_dict_and_list(manager: &PyManager, context: &str) {
    let queue = manager.queue::<String>().unwrap();
    for word in ["a", "b", "c"] {
        queue.put(word).unwrap();
    }
    assert_eq!(queue.qsize().unwrap(), 3);
    assert_eq!(queue.get().unwrap(), "a", "{context}");
    assert_eq!(queue.try_get().unwrap(), "b");
    assert_eq!(queue.get_timeout(Duration::from_secs(5)).unwrap(), "c");
    assert!(matches!(queue.try_get(), Err(Error::Empty)), "{context}");
    assert!(matches!(
        queue.get_timeout(Duration::from_millis(50)),
        Err(Error::Empty)
    ));
    assert!(queue.is_empty().unwrap());
    let bounded = manager.bounded_queue::<i32>(1).unwrap();
    bounded.try_put(&1).unwrap();
    assert!(matches!(bounded.try_put(&2), Err(Error::Full)), "{context}");
    assert!(matches!(
        bounded.put_timeout(&2, Duration::from_millis(50)),
        Err(Error::Full)
    ));
    assert!(bounded.is_full().unwrap());

    let dict = manager.dict::<String, Vec<i64>>().unwrap();
    dict.set("a", &[1, 2]).unwrap();
    dict.set("b", &[-3i64 << 40]).unwrap();
    assert_eq!(dict.get("a").unwrap(), Some(vec![1, 2]), "{context}");
    assert_eq!(
        dict.get("missing").unwrap(),
        None,
        "{context}: KeyError is None"
    );
    assert!(dict.contains_key("b").unwrap());
    assert_eq!(dict.len().unwrap(), 2);
    assert_eq!(dict.keys().unwrap(), ["a", "b"]);
    assert_eq!(
        dict.items().unwrap(),
        [
            ("a".to_owned(), vec![1, 2]),
            ("b".to_owned(), vec![-3 << 40])
        ]
    );
    assert_eq!(dict.remove("a").unwrap(), Some(vec![1, 2]));
    assert_eq!(dict.remove("a").unwrap(), None);
    // A value of another shape is a typed decoding error.
    let strings = manager.dict::<String, String>().unwrap();
    strings.set("n", &1).unwrap();
    assert!(
        matches!(strings.get("n"), Err(Error::Decode(_))),
        "{context}"
    );

    let list = manager.list::<u32>().unwrap();
    list.extend(&[1, 2]).unwrap();
    list.append(&3).unwrap();
    assert_eq!(list.len().unwrap(), 3);
    assert_eq!(list.get(1).unwrap(), 2);
    assert!(
        matches!(
            list.get(99),
            Err(Error::IndexOutOfRange { index: 99, len: 3 })
        ),
        "{context}"
    );
    list.set(0, &10).unwrap();
    assert_eq!(list.index(&3).unwrap(), Some(2));
    assert_eq!(list.index(&7).unwrap(), None);
    assert!(list.contains(&10).unwrap());
    assert_eq!(list.to_vec().unwrap(), [10, 2, 3]);
    assert_eq!(list.pop().unwrap(), Some(3));
    assert!(list.remove(&10).unwrap());
    assert!(!list.remove(&10).unwrap());
    // A method the object does not expose never leaves this process.
    assert!(matches!(
        list.proxy().call::<(), _>("clear", &()),
        Err(Error::NotExposed(name)) if name == "clear"
    ));
}

#[test]
fn our_client_uses_python_managers() {
    let _d = mp_testkit::deadline(Duration::from_secs(240));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            let context = format!("{:?} {family}", python.version);
            let server = start_server(&python, family);
            let manager = PyManager::connect(server.address.clone(), KEY).unwrap();
            let before = manager.number_of_objects().unwrap();
            queue_dict_and_list(&manager, &context);
            // Every proxy above was dropped: each decref'd its object.
            assert_eq!(manager.number_of_objects().unwrap(), before, "{context}");
            assert!(matches!(
                manager.create("nope", &()),
                Err(Error::UnknownTypeid(name)) if name == "nope"
            ));
            manager.shutdown().unwrap();
            server.script.finish();
            assert!(
                matches!(manager.queue::<u8>(), Err(Error::ManagerClosed)),
                "{context}"
            );
        }
    }
}

#[test]
fn proxies_hold_references_until_the_last_is_dropped() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let Some(python) = crate::python::python3() else {
        return;
    };
    let server = start_server(&python, "AF_UNIX");
    let manager = PyManager::connect(server.address.clone(), KEY).unwrap();
    let before = manager.number_of_objects().unwrap();
    let list = manager.list::<i32>().unwrap();
    list.append(&7).unwrap();
    let copy = list.try_clone().unwrap();
    assert_eq!(manager.number_of_objects().unwrap(), before + 1);
    drop(list);
    assert_eq!(
        copy.to_vec().unwrap(),
        [7],
        "the clone keeps the object alive"
    );
    drop(copy);
    assert_eq!(manager.number_of_objects().unwrap(), before);
    assert!(manager.debug_info().is_ok());
    manager.shutdown().unwrap();
    server.script.finish();
}

#[test]
fn a_python_producer_and_our_consumer_share_a_python_managed_queue() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    let Some(python) = crate::python::python3() else {
        return;
    };
    let server = start_server(&python, "AF_INET");
    let manager = PyManager::connect(server.address.clone(), KEY).unwrap();
    let queue: mp_python::PyQueueProxy<Item> = manager.create("get_queue", &()).unwrap().into();
    let n = 2000;
    let args = [
        server.family,
        server.arg.as_str(),
        &hex(KEY),
        &n.to_string(),
    ];
    let mut producer = Script::start(&python, PY_PRODUCER, &args);
    for i in 0..n {
        let item = queue.get_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(
            item,
            Item {
                i,
                square: i * i,
                name: format!("item {i}")
            }
        );
    }
    assert_eq!(producer.line(), "done");
    producer.finish();
    assert!(matches!(queue.try_get(), Err(Error::Empty)));
    drop(queue);
    manager.shutdown().unwrap();
    server.script.finish();
}

#[test]
fn a_wrong_key_is_refused_and_the_server_keeps_serving() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let Some(python) = crate::python::python3() else {
        return;
    };
    let server = start_server(&python, "AF_INET");
    let err = PyManager::connect(server.address.clone(), b"wrong key").unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err}");
    let err = PyManager::connect(server.address.clone(), b"").unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err}");
    let manager = PyManager::connect(server.address.clone(), KEY).unwrap();
    let dict = manager.dict::<String, bool>().unwrap();
    dict.set("still", &true).unwrap();
    assert_eq!(dict.get("still").unwrap(), Some(true));
    drop(dict);
    manager.shutdown().unwrap();
    server.script.finish();
}
