//! Python's stdlib manager clients on an mp manager (`PythonClients`):
//! every typeid a `SyncManager` client makes, Python's own exceptions,
//! reference counts, objects shared with mp's Rust clients (100,000 items
//! each way through one queue, exactly once and in order), and hostile
//! clients that get typed errors while the server keeps serving.

use std::collections::HashMap;
use std::time::Duration;

use mp_manager::{
    BaseManager, DictProxy, Manager, Namespace, QueueProxy, ServerObject, ValueProxy,
};
use mp_python::{Address, Pickle, PythonClients};

use crate::handshakes::{Script, socket_path};
use crate::python::{Python, all_pythons, hex, python3};

const KEY: &[u8] = b"mixed manager key";

/// An mp manager served in this process to mp clients (at `mp`) and to
/// Python clients (at `python`, given to scripts as `family address`).
struct Mixed {
    mp: Address,
    python: Vec<String>,
}

fn start_mixed(family: &str) -> Mixed {
    let python_address = if family == "AF_UNIX" {
        Address::Unix(socket_path())
    } else {
        Address::localhost(0)
    };
    let python = PythonClients::bind(python_address, KEY).unwrap();
    let arg = match python.address() {
        Address::Tcp(addr) => addr.port().to_string(),
        Address::Unix(path) => path.to_str().unwrap().to_owned(),
        other => panic!("{other:?}"),
    };
    let server = BaseManager::new()
        .address(Address::unique())
        .authkey(KEY)
        .register("get_queue", ServerObject::queue())
        .register("get_dict", ServerObject::dict())
        .register("get_namespace", ServerObject::namespace())
        .register("get_value", ServerObject::value(&Pickle(0i64)).unwrap())
        .serve_also(move |objects| python.serve(objects))
        .get_server()
        .unwrap();
    let mp = server.address().clone();
    std::thread::spawn(move || server.serve_forever());
    Mixed {
        mp,
        python: vec![family.to_owned(), arg],
    }
}

fn run_script(python: &Python, mixed: &Mixed, script: &str, extra: &[&str]) -> Script {
    let mut args: Vec<&str> = mixed.python.iter().map(String::as_str).collect();
    let key = hex(KEY);
    args.push(&key);
    args.extend(extra);
    Script::start(python, script, &args)
}

/// The prelude of every Python script: `m` is a connected SyncManager
/// (the typeids of the mp manager registered too).
const PRELUDE: &str = r#"
import sys, queue, gc, time
from multiprocessing.managers import SyncManager, DictProxy, NamespaceProxy, ValueProxy
family, address, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
if family == 'AF_INET':
    address = ('127.0.0.1', int(address))
class M(SyncManager): pass
M.register('get_queue')
M.register('get_dict', proxytype=DictProxy)
M.register('get_namespace', proxytype=NamespaceProxy)
M.register('get_value', proxytype=ValueProxy)
m = M(address=address, authkey=key)
m.connect()
"#;

const EVERY_TYPEID: &str = r#"
def raises(exc, f, *args):
    try:
        f(*args)
    except exc:
        return True
    raise AssertionError('%r did not raise %r' % (f, exc))

# Reference counts: a freed proxy frees its object (after the server's
# one-second grace period).
gc.collect()
base = m._number_of_objects()
extra = m.dict()
assert m._number_of_objects() == base + 1
del extra
gc.collect()
deadline = time.time() + 10
while m._number_of_objects() != base and time.time() < deadline:
    time.sleep(0.05)
assert m._number_of_objects() == base, (m._number_of_objects(), base)
q = m.Queue()
from multiprocessing.managers import dispatch
from multiprocessing.connection import Client
methods = dispatch(Client(address, authkey=key), None, 'get_methods', (q._token,))
assert 'put' in methods and 'get_nowait' in methods, methods
assert 'objects' in m._debug_info()
q.put({'a': 1}); q.put_nowait([2, 'b'])
assert q.qsize() == 2 and not q.empty() and not q.full()
assert q.get() == {'a': 1} and q.get_nowait() == [2, 'b']
assert raises(queue.Empty, q.get_nowait)
assert raises(queue.Empty, q.get, True, 0.05)
assert raises(queue.Empty, lambda: q.get(timeout=0.05))
b = m.Queue(1)
b.put(1)
assert b.full() and raises(queue.Full, b.put_nowait, 2) and raises(queue.Full, b.put, 2, True, 0.05)
j = m.JoinableQueue()
j.put('job'); j.get(); j.task_done(); j.join()
assert raises(ValueError, j.task_done)

d = m.dict({'x': 1}, y=2)
d['z'] = (3, None)
assert d['x'] == 1 and d['z'] == (3, None) and d.get('nope', 'dflt') == 'dflt'
assert raises(KeyError, lambda: d['missing'])
assert 'y' in d and len(d) == 3
assert d.keys() == ['x', 'y', 'z'] and d.values() == [1, 2, (3, None)]
assert d.items() == [('x', 1), ('y', 2), ('z', (3, None))]
assert sorted(k for k in d) == ['x', 'y', 'z']
assert d.copy() == {'x': 1, 'y': 2, 'z': (3, None)}
assert str(d) == "{'x': 1, 'y': 2, 'z': (3, None)}", str(d)
del d['x']
assert raises(KeyError, d.__delitem__, 'x')
assert d.pop('y') == 2 and d.pop('y', 0) == 0 and d.setdefault('w', 5) == 5
d.update({'u': [1]}, v=2)
assert d.popitem() in [('v', 2), ('u', [1]), ('w', 5), ('z', (3, None))]
d.clear()
assert len(d) == 0 and raises(KeyError, d.popitem)
assert raises(TypeError, d.__setitem__, [1], 2)

l = m.list([1, 2])
l.append(3); l.extend([4]); l.insert(0, 0)
assert l[0] == 0 and l[-1] == 4 and len(l) == 5 and 3 in l
assert raises(IndexError, lambda: l[99])
assert l.index(3) == 3 and raises(ValueError, l.index, 9) and l.count(1) == 1
l[1] = 'one'
l.remove(2)
assert raises(ValueError, l.remove, 2)
assert l.pop() == 4 and l.pop(0) == 0
l.reverse()
assert str(l) == "[3, 'one']", str(l)

ns = m.Namespace(a=1)
ns.b = [2]
assert ns.a == 1 and ns.b == [2]
assert raises(AttributeError, lambda: ns.c)
del ns.a
assert raises(AttributeError, lambda: ns.a)

v = m.Value('i', 5)
v.value += 1
assert v.value == 6 and v.get() == 6

lock = m.Lock()
with lock:
    assert not lock.acquire(False)
assert lock.acquire(True, 1)
lock.release()
assert raises(RuntimeError, lock.release)
r = m.RLock()
with r:
    with r:
        pass
s = m.Semaphore(2)
assert s.acquire() and s.acquire() and not s.acquire(False)
s.release(); s.release()
bs = m.BoundedSemaphore(1)
assert raises(ValueError, bs.release)
e = m.Event()
assert not e.is_set() and not e.wait(0.01)
e.set()
assert e.is_set() and e.wait(1)
e.clear()
c = m.Condition()
with c:
    assert not c.wait(0.01)
    c.notify(); c.notify_all()
bar = m.Barrier(1)
assert bar.wait() == 0 and bar.parties == 1 and not bar.broken
try:
    m.Pool()
    raise AssertionError('Pool made')
except Exception as e:
    assert 'Pool' in str(e), e

print('done', flush=True)
"#;

#[test]
fn python_manager_clients_use_every_typeid_of_an_mp_manager() {
    let _d = mp_testkit::deadline(Duration::from_secs(240));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            let mixed = start_mixed(family);
            let mut py = run_script(&python, &mixed, &[PRELUDE, EVERY_TYPEID].concat(), &[]);
            assert_eq!(py.line(), "done", "{:?} {family}", python.version);
            py.finish();
        }
    }
}

const PRODUCE: &str = r#"
n = int(sys.argv[4])
q = m.get_queue()
for i in range(n):
    q.put(('item', i))
print('done', flush=True)
"#;

const CONSUME: &str = r#"
n = int(sys.argv[4])
q = m.get_queue()
for i in range(n):
    assert q.get(timeout=20) == ('item', i)
assert q.empty()
print('done', flush=True)
"#;

#[test]
fn a_python_producer_and_a_rust_consumer_share_one_queue_both_ways() {
    let _d = mp_testkit::deadline(Duration::from_secs(300));
    let Some(python) = python3() else { return };
    let mixed = start_mixed("AF_UNIX");
    let manager = Manager::connect(&mixed.mp, KEY).unwrap();
    let queue: QueueProxy<Pickle<(String, u64)>> = manager.get("get_queue").unwrap();
    let n: u64 = 100_000;
    let count = n.to_string();
    // Python puts, Rust gets: every item once, in order.
    let mut producer = run_script(&python, &mixed, &[PRELUDE, PRODUCE].concat(), &[&count]);
    for i in 0..n {
        let Pickle((word, j)) = queue.get_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!((word.as_str(), j), ("item", i));
    }
    assert_eq!(producer.line(), "done");
    producer.finish();
    assert!(matches!(queue.try_get(), Err(mp_manager::Error::Empty)));
    // Rust puts, Python gets.
    let mut consumer = run_script(&python, &mixed, &[PRELUDE, CONSUME].concat(), &[&count]);
    for i in 0..n {
        queue.put(&Pickle(("item".to_owned(), i))).unwrap();
    }
    assert_eq!(consumer.line(), "done");
    consumer.finish();
}

const SHARED_OBJECTS: &str = r#"
d, ns, v = m.get_dict(), m.get_namespace(), m.get_value()
d['k'] = [1, 2**70]
ns.x = 'from python'
v.value = 7
print('set', flush=True)
sys.stdin.readline()
assert d['from rust'] == {'n': 1}
assert ns.y == 2.5
try:
    d['rust only']
    raise AssertionError('a Rust-only value read')
except TypeError as e:
    assert 'Pickle' in str(e), e
print('done', flush=True)
"#;

#[test]
fn python_and_rust_clients_see_the_same_dict_namespace_and_value() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let Some(python) = python3() else { return };
    let mixed = start_mixed("AF_INET");
    let manager = Manager::connect(&mixed.mp, KEY).unwrap();
    let mut py = run_script(&python, &mixed, &[PRELUDE, SHARED_OBJECTS].concat(), &[]);
    assert_eq!(py.line(), "set");
    let dict: DictProxy<Pickle<String>, Pickle<Vec<u128>>> = manager.get("get_dict").unwrap();
    assert_eq!(
        dict.get(&Pickle("k".to_owned())).unwrap(),
        Some(Pickle(vec![1, 1 << 70]))
    );
    let namespace: Namespace = manager.get("get_namespace").unwrap();
    let x: Pickle<String> = namespace.get("x").unwrap();
    assert_eq!(x.0, "from python");
    namespace.set("y", &Pickle(2.5)).unwrap();
    let value: ValueProxy<Pickle<i64>> = manager.get("get_value").unwrap();
    assert_eq!(value.get().unwrap(), Pickle(7));
    let nested: DictProxy<Pickle<String>, Pickle<HashMap<String, i32>>> =
        manager.get("get_dict").unwrap();
    let from_rust = HashMap::from([("n".to_owned(), 1)]);
    nested
        .set(&Pickle("from rust".to_owned()), &Pickle(from_rust))
        .unwrap();
    // A value stored for Rust clients only (postcard, not a Pickle).
    let plain: DictProxy<Pickle<String>, u32> = manager.get("get_dict").unwrap();
    plain.set(&Pickle("rust only".to_owned()), &5).unwrap();
    std::io::Write::write_all(py.stdin(), b"go\n").unwrap();
    assert_eq!(py.line(), "done");
    py.finish();
}

const HOSTILE: &str = r#"
import os, sys
from multiprocessing.connection import Client
from multiprocessing import AuthenticationError
family, address, key, marker = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), sys.argv[4]
if family == 'AF_INET':
    address = ('127.0.0.1', int(address))
try:
    Client(address, authkey=b'wrong key')
    raise AssertionError('a wrong key was accepted')
except AuthenticationError:
    print('wrong key: AuthenticationError', flush=True)
conn = Client(address, authkey=key)
conn.send((None, 'accept_connection', ('evil',), {}))
assert conn.recv() == ('#RETURN', None)
# A request naming os.system, as pickle writes it.
conn.send(('1', 'put', (os.system,), {}))
kind, text = conn.recv()
print(kind, 'posix.system' in text, flush=True)
# A hand-made protocol 0 pickle that would run a command.
conn.send_bytes(b'cposix\nsystem\n(S"touch ' + marker.encode() + b'"\ntR.')
kind, text = conn.recv()
print(kind, 'posix.system' in text, flush=True)
# Garbage, and a request of the wrong shape.
conn.send_bytes(b'\x80\x04garbage')
print(conn.recv()[0], flush=True)
conn.send(['not', 'a', 'request'])
print(conn.recv()[0], flush=True)
# An object id that does not exist.
conn.send(('12345', 'get', (), {}))
print(conn.recv()[0], flush=True)
print('exists' if os.path.exists(marker) else 'no marker', flush=True)
"#;

#[test]
fn hostile_python_clients_get_typed_errors_and_the_server_keeps_serving() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    // TCP needs a key, and an empty one is refused.
    let err = PythonClients::bind(Address::localhost(0), b"").unwrap_err();
    assert!(err.is_authentication(), "{err}");
    let Some(python) = python3() else { return };
    let mixed = start_mixed("AF_INET");
    let marker = std::env::temp_dir().join(format!("mp-python-pwned-{}", std::process::id()));
    let mut py = run_script(&python, &mixed, HOSTILE, &[marker.to_str().unwrap()]);
    assert_eq!(py.line(), "wrong key: AuthenticationError");
    assert_eq!(py.line(), "#TRACEBACK True");
    assert_eq!(py.line(), "#TRACEBACK True");
    assert_eq!(py.line(), "#TRACEBACK");
    assert_eq!(py.line(), "#TRACEBACK");
    assert_eq!(py.line(), "#TRACEBACK");
    assert_eq!(py.line(), "no marker");
    py.finish();
    assert!(!marker.exists());
    // The server keeps serving Python and mp clients.
    let mut py = run_script(
        &python,
        &mixed,
        &[PRELUDE, "print(m.get_queue().qsize())"].concat(),
        &[],
    );
    assert_eq!(py.line(), "0");
    py.finish();
    let manager = Manager::connect(&mixed.mp, KEY).unwrap();
    let queue: QueueProxy<Pickle<i32>> = manager.get("get_queue").unwrap();
    assert!(queue.is_empty().unwrap());
}
