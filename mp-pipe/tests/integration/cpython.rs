//! CPython's framing (`Framing::Cpython`), between mp ends and against a
//! real Python 3's `multiprocessing.connection` with `authkey=None` (which
//! runs no handshake) over a Unix socket.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use mp_pipe::{Framing, NoHandshake};

use super::*;

/// A `python3` running `script` with `args`, or `None` when there is no
/// python3 and `MP_ALLOW_SKIP_PYTHON=1` says that is fine.
fn python(script: &str, args: &[&str]) -> Option<Child> {
    let spawned = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    match spawned {
        Ok(child) => Some(child),
        Err(e) if std::env::var("MP_ALLOW_SKIP_PYTHON").as_deref() == Ok("1") => {
            eprintln!("skipped: no python3 ({e})");
            None
        }
        Err(e) => panic!("python3 is needed (set MP_ALLOW_SKIP_PYTHON=1 to skip): {e}"),
    }
}

fn socket_path(tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("mp-test-{}-py-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// 1 MiB + 3 bytes that are not all alike.
fn big() -> Vec<u8> {
    (0..(1 << 20) + 3u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

const PY_LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], family="AF_UNIX", authkey=None) as listener:
    print("ready", flush=True)
    with listener.accept() as conn:
        n = 0
        while True:
            try:
                message = conn.recv_bytes()
            except EOFError:
                break
            conn.send_bytes(message[::-1])
            n += 1
        print("eof after", n, flush=True)
"#;

/// mp's client talks to Python's listener: each message comes back
/// reversed (empty and 1 MiB ones too); closing is EOF for Python.
#[test]
fn an_mp_client_talks_to_a_python_listener() {
    let _d = deadline(60 * SECS);
    let path = socket_path("listener");
    let Some(mut py) = python(PY_LISTENER, &[path.to_str().unwrap()]) else {
        return;
    };
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let conn = Client::builder(Address::Unix(path.clone()))
        .framing(Framing::Cpython)
        .handshake(NoHandshake)
        .timeout(T)
        .connect_now()
        .unwrap();
    assert_eq!(conn.framing(), Framing::Cpython);
    let messages = [b"hello python".to_vec(), Vec::new(), big(), b"x".to_vec()];
    for message in &messages {
        conn.send_bytes(message).unwrap();
        let mut back = conn.recv_bytes_timeout(T).unwrap();
        back.reverse();
        assert_eq!(&back, message);
    }
    // A value travels too (as bytes Python echoes reversed).
    conn.send(&7u8).unwrap();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), [7]);
    drop(conn);
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "eof after 5");
    assert!(py.wait().unwrap().success());
}

const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
conn = Client(sys.argv[1], family="AF_UNIX", authkey=None)
conn.send_bytes(b"from python")
conn.send_bytes(b"")
conn.send_bytes(bytes(range(256)) * 4096)
conn.send_bytes(conn.recv_bytes())
try:
    conn.recv_bytes()
    print("no eof", flush=True)
except EOFError:
    print("eof", flush=True)
"#;

/// Python's client talks to mp's listener: mp reads its messages (empty
/// and 1 MiB ones too), Python echoes one back, and mp closing is EOF for
/// Python.
#[test]
fn a_python_client_talks_to_an_mp_listener() {
    let _d = deadline(60 * SECS);
    let path = socket_path("client");
    let listener = Listener::builder(Address::Unix(path.clone()))
        .framing(Framing::Cpython)
        .handshake(NoHandshake)
        .bind()
        .unwrap();
    let Some(mut py) = python(PY_CLIENT, &[path.to_str().unwrap()]) else {
        return;
    };
    let conn = listener.accept_timeout(T).unwrap();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), b"from python");
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), b"");
    let expected: Vec<u8> = (0..=255u8).cycle().take(256 * 4096).collect();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), expected);
    let mine = big();
    conn.send_bytes(&mine).unwrap();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), mine);
    drop(conn);
    let mut line = String::new();
    BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "eof");
    assert!(py.wait().unwrap().success());
}

/// Python closing is EOF for mp at a message boundary, and a truncated
/// message when it dies mid-message.
#[test]
fn python_closing_is_eof_for_mp() {
    let _d = deadline(60 * SECS);
    let path = socket_path("eof");
    let listener = Listener::builder(Address::Unix(path.clone()))
        .framing(Framing::Cpython)
        .handshake(NoHandshake)
        .bind()
        .unwrap();
    let script = r#"
import sys
from multiprocessing.connection import Client
conn = Client(sys.argv[1], family="AF_UNIX", authkey=None)
conn.send_bytes(b"last words")
conn.close()
"#;
    let Some(mut py) = python(script, &[path.to_str().unwrap()]) else {
        return;
    };
    let conn = listener.accept_timeout(T).unwrap();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), b"last words");
    assert!(matches!(conn.recv_bytes_timeout(T), Err(Error::Eof)));
    assert!(py.wait().unwrap().success());
}

/// Between two mp ends: boundaries, empty messages, the size limit, no
/// handles; a header no CPython writes (negative, not -1) is a protocol
/// error; -1 announces an 8-byte length.
#[test]
fn cpython_framing_keeps_boundaries_and_limits() {
    let _d = deadline(10 * SECS);
    let (a, b) = UnixStream::pair().unwrap();
    let a = Connection::from(a).with_framing(Framing::Cpython);
    let b = Connection::from(b).with_framing(Framing::Cpython);
    for m in [&b""[..], b"one", b"", &[9; 70_000]] {
        a.send_bytes(m).unwrap();
    }
    for m in [&b""[..], b"one", b"", &[9; 70_000]] {
        assert_eq!(b.recv_bytes_timeout(T).unwrap(), m);
    }
    let (x, _y) = pipe().unwrap();
    assert!(matches!(a.send(&x), Err(Error::HandlesNotSupported)));
    b.set_max_message_size(10);
    a.send_bytes(&[1; 11]).unwrap();
    a.send_bytes(&[2; 10]).unwrap();
    assert!(matches!(
        b.recv_bytes_timeout(T),
        Err(Error::MessageTooLarge { len: 11, limit: 10 })
    ));
    assert_eq!(b.recv_bytes_timeout(T).unwrap(), [2; 10]);

    let (conn, mut raw) = raw_pair();
    let conn = conn.with_framing(Framing::Cpython);
    raw.write_all(&(-1i32).to_be_bytes()).unwrap();
    raw.write_all(&3u64.to_be_bytes()).unwrap();
    raw.write_all(b"abc").unwrap();
    raw.write_all(&(-2i32).to_be_bytes()).unwrap();
    raw.write_all(&2i32.to_be_bytes()).unwrap();
    raw.write_all(b"ok").unwrap();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), b"abc");
    assert!(matches!(
        conn.recv_bytes_timeout(T),
        Err(Error::Protocol(_))
    ));
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), b"ok");
    drop(raw);
    assert!(matches!(conn.recv_bytes_timeout(T), Err(Error::Eof)));
}
