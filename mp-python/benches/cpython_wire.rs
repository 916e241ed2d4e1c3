//! A Python client's round trip (`conn.send(obj); conn.recv()` of a small
//! tuple, stdlib `multiprocessing.connection.Client`) to an mp-python
//! `Listener` that echoes it, beside the same client against CPython's own
//! `Listener` echoing it, in the same run; then the ratio.
//!
//! `cargo bench -p mp-python --bench cpython_wire -- --measurement-time 3`
//! (needs `python3`; without it the bench says so and measures nothing).

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use criterion::Criterion;
use mp_python::{Address, ErrorKind, Listener};

const KEY: &[u8] = b"cpython wire bench";

/// Python's Listener, echoing every object back until EOF.
const PY_ECHO: &str = r#"
import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], family='AF_UNIX', authkey=bytes.fromhex(sys.argv[2])) as listener:
    print('ready', flush=True)
    conn = listener.accept()
    try:
        while True:
            conn.send(conn.recv())
    except EOFError:
        pass
"#;

/// The measured client: reads a count on stdin, makes that many round
/// trips, prints the nanoseconds they took.
const PY_CLIENT: &str = r#"
import sys, time
from multiprocessing.connection import Client
conn = Client(sys.argv[1], family='AF_UNIX', authkey=bytes.fromhex(sys.argv[2]))
msg = ('ping', 42, 1.5, [1, 2, 3])
print('connected', flush=True)
for line in sys.stdin:
    n = int(line)
    start = time.perf_counter_ns()
    for _ in range(n):
        conn.send(msg)
        conn.recv()
    print(time.perf_counter_ns() - start, flush=True)
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "mp-python-bench-{}-{name}.sock",
        std::process::id()
    ))
}

fn python(script: &str, args: &[&str]) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdin, stdout)
}

fn line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("read from python");
    line.trim().to_owned()
}

/// A Python client driven from here, with the time it reported so far.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    total: Cell<(u128, u64)>,
}

impl Driver {
    fn connect(path: &std::path::Path) -> Driver {
        let (child, stdin, mut stdout) = python(PY_CLIENT, &[path.to_str().unwrap(), &hex(KEY)]);
        assert_eq!(line(&mut stdout), "connected");
        Driver {
            child,
            stdin,
            stdout,
            total: Cell::new((0, 0)),
        }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        writeln!(self.stdin, "{n}").unwrap();
        let ns: u64 = line(&mut self.stdout).parse().unwrap();
        let (total, count) = self.total.get();
        self.total.set((total + u128::from(ns), count + n));
        Duration::from_nanos(ns)
    }

    fn mean_ns(&self) -> f64 {
        let (total, count) = self.total.get();
        total as f64 / count.max(1) as f64
    }

    fn finish(mut self) {
        drop(self.stdin);
        self.child.wait().unwrap();
    }
}

/// mp-python's echo: decodes each pickle as data and encodes it again,
/// as CPython's `conn.send(conn.recv())` does.
fn mp_echo(listener: Listener) {
    let conn = listener.accept().unwrap();
    loop {
        match conn.recv_value() {
            Ok(value) => conn.send_value(&value).unwrap(),
            Err(e) if matches!(e.kind(), ErrorKind::Eof) => return,
            Err(e) => panic!("{e}"),
        }
    }
}

fn main() {
    if Command::new("python3").arg("-V").output().is_err() {
        eprintln!("\n!!!!!!!! cpython_wire bench SKIPPED: python3 is not on PATH !!!!!!!!\n");
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();

    let mp_path = socket_path("mp");
    let listener = Listener::bind(Address::Unix(mp_path.clone()), Some(KEY)).unwrap();
    let echo = std::thread::spawn(move || mp_echo(listener));
    let mut to_mp = Driver::connect(&mp_path);

    let py_path = socket_path("py");
    let (mut py_echo, _py_in, mut py_out) =
        python(PY_ECHO, &[py_path.to_str().unwrap(), &hex(KEY)]);
    assert_eq!(line(&mut py_out), "ready");
    let mut to_py = Driver::connect(&py_path);

    let mut group = c.benchmark_group("python_wire/roundtrip");
    group.bench_function("python_client_to_mp_listener", |b| {
        b.iter_custom(|n| to_mp.round_trips(n))
    });
    group.bench_function("python_client_to_python_listener", |b| {
        b.iter_custom(|n| to_py.round_trips(n))
    });
    group.finish();

    let (mp, py) = (to_mp.mean_ns(), to_py.mean_ns());
    println!(
        "python client round trip: to mp Listener {:.1} us, to Python Listener {:.1} us; \
         mp/Python = {:.2} (target <= 1: no slower)",
        mp / 1e3,
        py / 1e3,
        mp / py
    );
    to_mp.finish();
    echo.join().unwrap();
    to_py.finish();
    py_echo.wait().unwrap();
    let _ = std::fs::remove_file(&mp_path);
    c.final_summary();
}
