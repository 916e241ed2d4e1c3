//! The authkey handshake of mp-python's `Listener` and `Client` against
//! every real CPython found (3.11's form, and 3.12+'s where installed),
//! both directions, right and wrong keys, over Unix and TCP sockets; and
//! against a byte-exact 3.12+ peer written with hmac/hashlib, so the modern
//! form (every digest, every mix of forms) is tested even where only
//! Python 3.11 is installed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mp_python::{Address, Challenge, Client, Digest, Listener, PyConnection, PyValue};

use crate::python::{Python, all_pythons, hex, python3, spawn};

const KEY: &[u8] = b"the shared secret";
const WRONG: &[u8] = b"not the secret";
const PATIENCE: Duration = Duration::from_secs(20);

pub(crate) fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("mp-python-{}-{n}.sock", std::process::id()))
}

/// A Python child and its stdout, read line by line.
pub(crate) struct Script {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Script {
    pub(crate) fn start(python: &Python, script: &str, args: &[&str]) -> Script {
        let mut child = spawn(python, script, args);
        let out = BufReader::new(child.stdout.take().unwrap());
        Script { child, out }
    }

    /// The next line the child prints; its stderr in the panic if it
    /// ended instead.
    pub(crate) fn line(&mut self) -> String {
        let mut line = String::new();
        if self.out.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
            panic!("python ended without a line: {err}");
        }
        line.trim().to_owned()
    }

    /// The child's stdin.
    pub(crate) fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child.stdin.as_mut().unwrap()
    }

    /// Waits for a successful exit; panics with its stderr otherwise.
    pub(crate) fn finish(mut self) {
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(status.success(), "python failed: {err}");
    }
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

fn connect(address: Address, key: &[u8], challenge: Challenge) -> mp_python::Result<PyConnection> {
    Client::builder(address)
        .authkey(key)
        .challenge(challenge)
        .timeout(PATIENCE)
        .connect_now()
}

#[test]
fn our_client_authenticates_with_python_listeners() {
    let _d = mp_testkit::deadline(Duration::from_secs(180));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            for challenge in [Challenge::default(), Challenge::Legacy] {
                for (key, right) in [(KEY, true), (WRONG, false)] {
                    let path = socket_path();
                    let path_arg = path.to_str().unwrap();
                    let mut py =
                        Script::start(&python, PY_LISTENER, &[family, path_arg, &hex(KEY)]);
                    let ready = py.line();
                    let address = if family == "AF_UNIX" {
                        assert_eq!(ready, "ready");
                        Address::Unix(path.clone())
                    } else {
                        Address::localhost(ready.parse().unwrap())
                    };
                    let context = format!("{:?} {family} {challenge:?}", python.version);
                    match connect(address, key, challenge) {
                        Ok(conn) => {
                            assert!(right, "{context}: a wrong key was accepted");
                            conn.send(&("hello", 1)).unwrap();
                            let reply = conn.recv_value().unwrap();
                            let hello =
                                PyValue::Tuple(vec![PyValue::str("hello"), PyValue::Int(1)]);
                            assert_eq!(reply, PyValue::Tuple(vec![PyValue::str("echo"), hello]));
                        }
                        Err(e) => {
                            assert!(!right, "{context}: {e}");
                            assert!(e.is_authentication(), "{context}: {e}");
                        }
                    }
                    let verdict = py.line();
                    assert_eq!(
                        verdict,
                        if right { "ok" } else { "AuthenticationError" },
                        "{context}"
                    );
                    py.finish();
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

#[test]
fn python_clients_authenticate_with_our_listener() {
    let _d = mp_testkit::deadline(Duration::from_secs(180));
    for python in all_pythons() {
        for family in ["AF_UNIX", "AF_INET"] {
            for challenge in [Challenge::default(), Challenge::Legacy] {
                for (key, right) in [(KEY, true), (WRONG, false)] {
                    let path = socket_path();
                    let (address, arg) = if family == "AF_UNIX" {
                        (
                            Address::Unix(path.clone()),
                            path.to_str().unwrap().to_owned(),
                        )
                    } else {
                        (Address::localhost(0), String::new())
                    };
                    let listener = Listener::builder(address)
                        .authkey(KEY)
                        .challenge(challenge)
                        .bind()
                        .unwrap();
                    let arg = match listener.address() {
                        Address::Tcp(addr) => addr.port().to_string(),
                        _ => arg,
                    };
                    let mut py = Script::start(&python, PY_CLIENT, &[family, &arg, &hex(key)]);
                    let context = format!("{:?} {family} {challenge:?}", python.version);
                    if right {
                        let conn = listener.accept_timeout(PATIENCE).unwrap();
                        let request = conn.recv_value().unwrap();
                        conn.send_value(&PyValue::Tuple(vec![PyValue::str("got"), request]))
                            .unwrap();
                        assert_eq!(py.line(), "('got', ('hello', 2))", "{context}");
                    } else {
                        // accept drives the handshakes: the peer is refused,
                        // never handed over.
                        assert!(mp_testkit::eventually(PATIENCE, || {
                            let accepted = listener.accept_timeout(Duration::from_millis(20));
                            assert!(accepted.is_err(), "{context}: a wrong key was accepted");
                            listener.stats().refused() == 1
                        }));
                        assert_eq!(py.line(), "AuthenticationError", "{context}");
                    }
                    py.finish();
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
    let _d = mp_testkit::deadline(Duration::from_secs(180));
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
            let mut py = Script::start(&python, PY_MODERN_PEER, &args);
            assert_eq!(py.line(), "ready");
            connect(Address::Unix(path.clone()), KEY, Challenge::Modern(ours)).unwrap();
            assert_eq!(py.line(), format!("deliver ok {}", theirs.name()));
            assert_eq!(py.line(), format!("answer ok {}", ours.name()));
            py.finish();
            let _ = std::fs::remove_file(&path);

            // Their client, our server.
            let path = socket_path();
            let listener = Listener::builder(Address::Unix(path.clone()))
                .authkey(KEY)
                .challenge(Challenge::Modern(ours))
                .bind()
                .unwrap();
            let args = [
                "client",
                path.to_str().unwrap(),
                &hex(KEY),
                theirs.name(),
                "auto",
            ];
            let mut py = Script::start(&python, PY_MODERN_PEER, &args);
            listener.accept_timeout(PATIENCE).unwrap();
            assert_eq!(py.line(), format!("answer ok {}", ours.name()));
            assert_eq!(py.line(), format!("deliver ok {}", theirs.name()));
            py.finish();
        }
    }
}

#[test]
fn legacy_forms_and_wrong_keys_against_a_byte_exact_peer() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    let Some(python) = python3() else { return };
    // (their challenge, their answer style, key they hold, accepted?)
    let cases = [
        ("legacy", "rawmd5", KEY, true),
        ("sha256", "rawmd5", KEY, true),
        ("sha256", "md5", KEY, true),
        ("sha3_384", "sha384", KEY, true),
        ("sha256", "auto", WRONG, false),
        ("legacy", "rawmd5", WRONG, false),
    ];
    for (challenge, answer, key, right) in cases {
        let path = socket_path();
        let listener = Listener::bind(Address::Unix(path.clone()), Some(KEY)).unwrap();
        let args = [
            "client",
            path.to_str().unwrap(),
            &hex(key),
            challenge,
            answer,
        ];
        let mut py = Script::start(&python, PY_MODERN_PEER, &args);
        if right {
            listener.accept_timeout(PATIENCE).unwrap();
            assert!(py.line().starts_with("answer ok"));
            assert!(py.line().starts_with("deliver ok"));
            py.finish();
        } else {
            assert!(mp_testkit::eventually(PATIENCE, || {
                assert!(listener.accept_timeout(Duration::from_millis(20)).is_err());
                listener.stats().refused() == 1
            }));
            assert!(py.line().starts_with("answer rejected"));
            let _ = py.child.wait();
        }
    }
}
