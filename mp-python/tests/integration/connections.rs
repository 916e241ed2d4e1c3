//! mp-python's `Listener` with Python's stdlib `Client`, and its `Client`
//! with Python's stdlib `Listener`: a mix of serde values both ways,
//! `send_bytes` / `recv_bytes` (empty messages included), `poll`, end of
//! file on both sides, and a forbidden global that is refused while the
//! connection stays usable; over Unix and TCP sockets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use mp_python::{Address, Client, ErrorKind, Listener, PyConnection};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::handshakes::{Script, socket_path};
use crate::python::{all_pythons, hex};

const KEY: &[u8] = b"connections key";
const PATIENCE: Duration = Duration::from_secs(20);

/// The Python side of the exchange, as a listener or as a client. Two
/// connections: the first ends with Python closing, the second with us
/// closing.
const PY_PEER: &str = r#"
import os, sys
from multiprocessing.connection import Client, Listener
role, family, address, key = sys.argv[1], sys.argv[2], sys.argv[3], bytes.fromhex(sys.argv[4])
if role == 'listener':
    listener = Listener(('127.0.0.1', 0) if family == 'AF_INET' else address, family=family, authkey=key)
    print(listener.address[1] if family == 'AF_INET' else 'ready', flush=True)
    connect = listener.accept
else:
    if family == 'AF_INET':
        address = ('127.0.0.1', int(address))
    connect = lambda: Client(address, family=family, authkey=key)
conn = connect()
conn.send((1, 2**70, -3.5, None, True, 'str\u00e9', b'raw', [1, 2, 3], {'x': 1}, (4.0, 'tuple')))
conn.send(os.system)
conn.send_bytes(b'\x00raw bytes\xff')
conn.send_bytes(b'')
print(conn.poll(0.05), flush=True)
print(repr(conn.recv()), flush=True)
print(conn.recv_bytes().hex(), flush=True)
print(conn.poll(0.05), flush=True)
conn.send('last')
conn.close()
conn = connect()
try:
    conn.recv()
except EOFError:
    print('EOFError', flush=True)
"#;

#[derive(Serialize)]
struct Reply {
    name: String,
    values: Vec<f64>,
    nested: BTreeMap<String, Vec<Option<i32>>>,
    flag: bool,
    big: u128,
    bytes: ByteBuf,
    #[serde(with = "mp_python::set")]
    tags: HashSet<String>,
    pair: (i8, char),
    unit: (),
}

type Mixed = (
    i64,
    u128,
    f64,
    Option<i32>,
    bool,
    String,
    ByteBuf,
    Vec<i32>,
    HashMap<String, i32>,
    Tuple,
);

#[derive(Deserialize, Debug, PartialEq)]
struct Tuple(f64, String);

/// Our side of the exchange on the first connection.
fn exchange(conn: &PyConnection, py: &mut Script, context: &str) {
    let mixed: Mixed = conn.recv_timeout(PATIENCE).unwrap();
    assert_eq!(mixed.0, 1, "{context}");
    assert_eq!(mixed.1, 1 << 70);
    assert_eq!(mixed.2, -3.5);
    assert_eq!(mixed.3, None);
    assert!(mixed.4);
    assert_eq!(mixed.5, "str\u{e9}");
    assert_eq!(mixed.6.as_slice(), b"raw");
    assert_eq!(mixed.7, [1, 2, 3]);
    assert_eq!(mixed.8, HashMap::from([("x".to_owned(), 1)]));
    assert_eq!(mixed.9, Tuple(4.0, "tuple".into()));
    // os.system is never looked up: a typed error, and the next message
    // arrives as sent.
    let err = conn.recv_value().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ForbiddenGlobal { module, name } if module == "posix" && name == "system"),
        "{context}: {err}"
    );
    assert_eq!(conn.recv_bytes().unwrap(), b"\x00raw bytes\xff");
    assert_eq!(conn.recv_bytes().unwrap(), b"");
    assert_eq!(
        py.line(),
        "False",
        "{context}: Python's poll with nothing sent"
    );
    assert!(!conn.poll(Duration::from_millis(20)).unwrap());
    let mut buf = [0u8; 8];
    let err = conn
        .recv_bytes_into_timeout(&mut buf, Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout), "{context}: {err}");
    let reply = Reply {
        name: "mp".into(),
        values: vec![0.5, f64::INFINITY],
        nested: BTreeMap::from([("k".to_owned(), vec![Some(1), None])]),
        flag: false,
        big: u128::MAX,
        bytes: ByteBuf::from(vec![0, 255]),
        tags: HashSet::from(["only".to_owned()]),
        pair: (-8, 'z'),
        unit: (),
    };
    conn.send(&reply).unwrap();
    conn.send_bytes(&[1, 2, 3]).unwrap();
    assert_eq!(
        py.line(),
        "{'name': 'mp', 'values': [0.5, inf], 'nested': {'k': [1, None]}, 'flag': False, \
         'big': 340282366920938463463374607431768211455, 'bytes': b'\\x00\\xff', \
         'tags': {'only'}, 'pair': (-8, 'z'), 'unit': None}",
        "{context}"
    );
    assert_eq!(py.line(), "010203");
    assert_eq!(py.line(), "False", "{context}: nothing more was sent");
    assert!(conn.poll(PATIENCE).unwrap());
    assert_eq!(conn.recv::<String>().unwrap(), "last");
    let eof = conn.recv_timeout::<String>(PATIENCE).unwrap_err();
    assert!(matches!(eof.kind(), ErrorKind::Eof), "{context}: {eof}");
}

#[test]
fn python_clients_exchange_with_our_listener() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            let path = socket_path();
            let address = if family == "AF_UNIX" {
                Address::Unix(path.clone())
            } else {
                Address::localhost(0)
            };
            let listener = Listener::bind(address, Some(KEY)).unwrap();
            let arg = match listener.address() {
                Address::Tcp(addr) => addr.port().to_string(),
                _ => path.to_str().unwrap().to_owned(),
            };
            let context = format!("{:?} {family}", python.version);
            let mut py = Script::start(&python, PY_PEER, &["client", family, &arg, &hex(KEY)]);
            let conn = listener.accept_timeout(PATIENCE).unwrap();
            exchange(&conn, &mut py, &context);
            drop(listener.accept_timeout(PATIENCE).unwrap());
            assert_eq!(py.line(), "EOFError", "{context}");
            py.finish();
        }
    }
}

#[test]
fn our_client_exchanges_with_python_listeners() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            let path = socket_path();
            let context = format!("{:?} {family}", python.version);
            let args = ["listener", family, path.to_str().unwrap(), &hex(KEY)];
            let mut py = Script::start(&python, PY_PEER, &args);
            let ready = py.line();
            let address = if family == "AF_UNIX" {
                Address::Unix(path.clone())
            } else {
                Address::localhost(ready.parse().unwrap())
            };
            let client = Client::builder(address).authkey(KEY).timeout(PATIENCE);
            let conn = client.connect_now().unwrap();
            exchange(&conn, &mut py, &context);
            drop(client.connect_now().unwrap());
            assert_eq!(py.line(), "EOFError", "{context}");
            py.finish();
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[test]
fn keys_are_required_on_tcp_and_empty_keys_are_refused() {
    let err = Listener::bind(Address::localhost(0), None).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Pipe(mp_pipe::Error::InsecureTcp)),
        "{err}"
    );
    let err = Client::connect(Address::localhost(1), None).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Pipe(mp_pipe::Error::InsecureTcp)),
        "{err}"
    );
    assert!(
        Listener::bind(Address::unique(), Some(b""))
            .unwrap_err()
            .is_authentication()
    );
    let listener = Listener::bind(Address::unique(), Some(KEY)).unwrap();
    let err = Client::connect(listener.address(), Some(b"")).unwrap_err();
    assert!(err.is_authentication(), "{err}");
}
