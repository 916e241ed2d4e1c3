//! The authkey handshake against real CPython, both directions, right and
//! wrong keys, over Unix and TCP sockets; and against a byte-exact 3.12+
//! peer written with hmac/hashlib, so the modern form (every digest) is
//! tested even where only Python 3.11 is installed.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mp_python::{
    Authenticated, BlockingConnection, Challenge, Digest, PyValue, TimeoutStream, client_handshake,
    server_handshake,
};

use crate::python::{Python, all_pythons, hex, python3, spawn};

const KEY: &[u8] = b"the shared secret";
const WRONG: &[u8] = b"not the secret";

fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("mp-python-{}-{n}.sock", std::process::id()))
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

/// The next line the child prints.
fn line(child: &mut Child, reader: &mut Option<BufReader<std::process::ChildStdout>>) -> String {
    let reader = reader.get_or_insert_with(|| BufReader::new(child.stdout.take().unwrap()));
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line.trim().to_owned()
}

fn finish(mut child: Child) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "python failed: {err}");
}

/// Python's real `Listener`: accepts one client, echoes one message.
const PY_LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
from multiprocessing import AuthenticationError
family, address, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
if family == 'AF_INET':
    address = ('127.0.0.1', 0)
with Listener(address, family=family, authkey=key) as listener:
    print(listener.address[1] if family == 'AF_INET' else 'ready', flush=True)
    try:
        conn = listener.accept()
    except AuthenticationError as e:
        print('AuthenticationError', flush=True)
        sys.exit(0)
    conn.send(('echo', conn.recv()))
    print('ok', flush=True)
"#;

/// Python's real `Client`: sends one message, prints the reply.
const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
from multiprocessing import AuthenticationError
family, address, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
if family == 'AF_INET':
    address = ('127.0.0.1', int(address))
try:
    conn = Client(address, family=family, authkey=key)
except AuthenticationError:
    print('AuthenticationError', flush=True)
    sys.exit(0)
conn.send(('hello', 2))
print(repr(conn.recv()), flush=True)
"#;

fn expected_digests(python: &Python) -> Authenticated {
    let digest = if python.version >= (3, 12) {
        Digest::Sha256
    } else {
        Digest::Md5
    };
    Authenticated {
        peer_digest: digest,
        our_digest: digest,
    }
}

fn talk_as_client<S: TimeoutStream>(stream: S, key: &[u8], python: &Python) -> bool {
    let mut conn = BlockingConnection::new(stream);
    match client_handshake(&mut conn, key, Challenge::default(), soon()) {
        Ok(done) => {
            assert_eq!(done, expected_digests(python), "{:?}", python.version);
            conn.send_bytes(&mp_python::to_pickle(&("hello", 1)).unwrap())
                .unwrap();
            let reply = mp_python::decode(&conn.recv_bytes(1 << 20).unwrap()).unwrap();
            let hello = PyValue::Tuple(vec![PyValue::str("hello"), PyValue::Int(1)]);
            assert_eq!(reply, PyValue::Tuple(vec![PyValue::str("echo"), hello]));
            true
        }
        Err(e) => {
            assert!(e.is_authentication(), "{e}");
            false
        }
    }
}

#[test]
fn our_client_authenticates_with_python_listeners() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            for (key, right) in [(KEY, true), (WRONG, false)] {
                let path = socket_path();
                let path_arg = path.to_str().unwrap();
                let mut child = spawn(&python, PY_LISTENER, &[family, path_arg, &hex(KEY)]);
                let mut out = None;
                let ready = line(&mut child, &mut out);
                let ok = if family == "AF_UNIX" {
                    assert_eq!(ready, "ready");
                    talk_as_client(UnixStream::connect(&path).unwrap(), key, &python)
                } else {
                    let port: u16 = ready.parse().unwrap();
                    talk_as_client(
                        TcpStream::connect(("127.0.0.1", port)).unwrap(),
                        key,
                        &python,
                    )
                };
                assert_eq!(ok, right, "{:?} {family}", python.version);
                let verdict = line(&mut child, &mut out);
                assert_eq!(verdict, if right { "ok" } else { "AuthenticationError" });
                finish(child);
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

fn serve<S: TimeoutStream>(stream: S, key: &[u8], python: &Python) -> bool {
    let mut conn = BlockingConnection::new(stream);
    match server_handshake(&mut conn, key, Challenge::default(), soon()) {
        Ok(done) => {
            assert_eq!(done, expected_digests(python), "{:?}", python.version);
            let request = mp_python::decode(&conn.recv_bytes(1 << 20).unwrap()).unwrap();
            let reply = PyValue::Tuple(vec![PyValue::str("got"), request]);
            conn.send_bytes(&mp_python::encode(&reply).unwrap())
                .unwrap();
            true
        }
        Err(e) => {
            assert!(e.is_authentication(), "{e}");
            false
        }
    }
}

/// Accepts within a deadline (the listener is non-blocking, so a Python
/// that died before connecting fails the test instead of hanging it).
fn accept<T>(mut try_accept: impl FnMut() -> Option<T>) -> T {
    let mut accepted = None;
    assert!(mp_testkit::eventually(Duration::from_secs(20), || {
        accepted = try_accept();
        accepted.is_some()
    }));
    accepted.unwrap()
}

fn serve_one(bound: &Bound, key: &[u8], python: &Python) -> bool {
    match bound {
        Bound::Unix(listener, _) => {
            let stream = accept(|| listener.accept().ok()).0;
            stream.set_nonblocking(false).unwrap();
            serve(stream, key, python)
        }
        Bound::Tcp(listener) => {
            let stream = accept(|| listener.accept().ok()).0;
            stream.set_nonblocking(false).unwrap();
            serve(stream, key, python)
        }
    }
}

#[test]
fn python_clients_authenticate_with_our_server() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            for (key, right) in [(KEY, true), (WRONG, false)] {
                let (bound, address) = if family == "AF_UNIX" {
                    let path = socket_path();
                    let listener = UnixListener::bind(&path).unwrap();
                    listener.set_nonblocking(true).unwrap();
                    let address = path.to_str().unwrap().to_owned();
                    (Bound::Unix(listener, path), address)
                } else {
                    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                    listener.set_nonblocking(true).unwrap();
                    let port = listener.local_addr().unwrap().port().to_string();
                    (Bound::Tcp(listener), port)
                };
                let mut child = spawn(&python, PY_CLIENT, &[family, &address, &hex(key)]);
                let ok = serve_one(&bound, KEY, &python);
                assert_eq!(ok, right, "{:?} {family}", python.version);
                let mut out = None;
                let printed = line(&mut child, &mut out);
                let want = if right {
                    "('got', ('hello', 2))"
                } else {
                    "AuthenticationError"
                };
                assert_eq!(printed, want, "{:?} {family}", python.version);
                finish(child);
                if let Bound::Unix(_, path) = bound {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

/// Python 3.12+'s handshake, written out with hmac/hashlib over a raw Unix
/// socket and CPython's framing, so it runs on any Python 3. `challenge`
/// is the digest this peer puts in its challenge (`legacy` for 3.11's 20
/// bytes); `answer` is how it answers ours: `auto` as 3.12 does, `rawmd5`
/// as 3.11 does, or a digest name to answer with regardless.
const PY_MODERN_PEER: &str = r#"
import sys, socket, struct, hmac, os
role, path, key, challenge, answer = sys.argv[1:6]
key = bytes.fromhex(key)
def send(s, b):
    s.sendall(struct.pack('!i', len(b)) + b)
def exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf
def recv(s):
    n, = struct.unpack('!i', exact(s, 4))
    assert 0 <= n <= 256, n
    return exact(s, n)
def deliver(s):
    body = os.urandom(20) if challenge == 'legacy' else b'{%s}' % challenge.encode() + os.urandom(40)
    send(s, b'#CHALLENGE#' + body)
    resp = recv(s)
    if len(resp) in (16, 20):
        name, tag = 'md5', resp
    else:
        end = resp.index(b'}')
        name, tag = resp[1:end].decode(), resp[end + 1:]
    ok = hmac.compare_digest(hmac.new(key, body, name).digest(), tag)
    send(s, b'#WELCOME#' if ok else b'#FAILURE#')
    return 'deliver %s %s' % ('ok' if ok else 'failed', name)
def answer_it(s):
    msg = recv(s)
    assert msg.startswith(b'#CHALLENGE#')
    body = msg[len(b'#CHALLENGE#'):]
    if answer == 'rawmd5' or (answer == 'auto' and len(body) == 20):
        reply, name = hmac.new(key, body, 'md5').digest(), 'md5'
    else:
        name = body[1:body.index(b'}')].decode() if answer == 'auto' else answer
        reply = b'{%s}' % name.encode() + hmac.new(key, body, name).digest()
    send(s, reply)
    return 'answer %s %s' % ('ok' if recv(s) == b'#WELCOME#' else 'rejected', name)
if role == 'server':
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    print('ready', flush=True)
    s, _ = srv.accept()
    print(deliver(s), flush=True)
    print(answer_it(s), flush=True)
else:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    print(answer_it(s), flush=True)
    print(deliver(s), flush=True)
"#;

const DIGESTS: [Digest; 5] = [
    Digest::Md5,
    Digest::Sha256,
    Digest::Sha384,
    Digest::Sha3_256,
    Digest::Sha3_384,
];

#[test]
fn every_312_digest_both_ways_against_a_byte_exact_peer() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    let Some(python) = python3() else { return };
    for theirs in DIGESTS {
        for ours in DIGESTS {
            // Their server, our client.
            let path = socket_path();
            let args = [
                "server",
                path.to_str().unwrap(),
                &hex(KEY),
                theirs.name(),
                "auto",
            ];
            let mut child = spawn(&python, PY_MODERN_PEER, &args);
            let mut out = None;
            assert_eq!(line(&mut child, &mut out), "ready");
            let mut conn = BlockingConnection::new(UnixStream::connect(&path).unwrap());
            let done = client_handshake(&mut conn, KEY, Challenge::Modern(ours), soon()).unwrap();
            assert_eq!(
                done,
                Authenticated {
                    peer_digest: ours,
                    our_digest: theirs
                }
            );
            assert_eq!(
                line(&mut child, &mut out),
                format!("deliver ok {}", theirs.name())
            );
            assert_eq!(
                line(&mut child, &mut out),
                format!("answer ok {}", ours.name())
            );
            finish(child);
            let _ = std::fs::remove_file(&path);

            // Their client, our server.
            let path = socket_path();
            let listener = UnixListener::bind(&path).unwrap();
            let args = [
                "client",
                path.to_str().unwrap(),
                &hex(KEY),
                theirs.name(),
                "auto",
            ];
            let mut child = spawn(&python, PY_MODERN_PEER, &args);
            let mut conn = BlockingConnection::new(listener.accept().unwrap().0);
            let done = server_handshake(&mut conn, KEY, Challenge::Modern(ours), soon()).unwrap();
            assert_eq!(
                done,
                Authenticated {
                    peer_digest: ours,
                    our_digest: theirs
                }
            );
            let mut out = None;
            assert_eq!(
                line(&mut child, &mut out),
                format!("answer ok {}", ours.name())
            );
            assert_eq!(
                line(&mut child, &mut out),
                format!("deliver ok {}", theirs.name())
            );
            finish(child);
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[test]
fn legacy_forms_and_wrong_keys_against_a_byte_exact_peer() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    let Some(python) = python3() else { return };
    // (their challenge, their answer style, key they hold, expected outcome for us)
    let cases = [
        ("legacy", "rawmd5", KEY, Some((Digest::Md5, Digest::Md5))),
        ("sha256", "rawmd5", KEY, Some((Digest::Md5, Digest::Sha256))),
        ("sha256", "md5", KEY, Some((Digest::Md5, Digest::Sha256))),
        ("sha256", "auto", WRONG, None),
        ("legacy", "rawmd5", WRONG, None),
    ];
    for (challenge, answer, key, expected) in cases {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let args = [
            "client",
            path.to_str().unwrap(),
            &hex(key),
            challenge,
            answer,
        ];
        let mut child = spawn(&python, PY_MODERN_PEER, &args);
        let mut conn = BlockingConnection::new(listener.accept().unwrap().0);
        let result = server_handshake(&mut conn, KEY, Challenge::default(), soon());
        let mut out = None;
        match expected {
            Some((peer_digest, our_digest)) => {
                assert_eq!(
                    result.unwrap(),
                    Authenticated {
                        peer_digest,
                        our_digest
                    }
                );
                assert!(line(&mut child, &mut out).starts_with("answer ok"));
                assert!(line(&mut child, &mut out).starts_with("deliver ok"));
                finish(child);
            }
            None => {
                let err = result.unwrap_err();
                assert!(err.is_authentication(), "{err}");
                assert!(line(&mut child, &mut out).starts_with("answer rejected"));
                drop(conn);
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}
