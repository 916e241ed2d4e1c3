//! What a stdlib Python client gets from mp beside what it gets from
//! CPython, in the same run, with the ratios:
//!
//! - its round trip (`conn.send(obj); conn.recv()` of a small tuple,
//!   `multiprocessing.connection.Client`) to an mp-python `Listener` that
//!   echoes it, and to CPython's own `Listener` echoing it;
//! - W9: its queue `put` + `get` through an mp manager (served to Python by
//!   `PythonClients`), and through CPython's own `SyncManager` server.
//!
//! `cargo bench -p mp-python --bench cpython_wire -- --measurement-time 3`
//! (needs `python3`; without it the bench says so and measures nothing).
//!
//! The run is stamped (`mp_testkit::BenchFiles`) so that mp-bench's
//! `bench_report` shows these groups in BENCHMARKS.md (issue 15's rows);
//! the interleaved medians go beside them, as
//! `python_wire/interleaved/summary.json` (`{"results": [{"full_id",
//! "median_ns"}]}`).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use criterion::Criterion;
use mp_manager::BaseManager;
use mp_python::{Address, ErrorKind, Listener, PythonClients};
use mp_testkit::BenchFiles;
use serde_json::json;

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
    /// The time per round trip of each batch measured.
    samples: RefCell<Vec<f64>>,
}

impl Driver {
    fn connect(script: &str, path: &std::path::Path) -> Driver {
        let (child, stdin, mut stdout) = python(script, &[path.to_str().unwrap(), &hex(KEY)]);
        assert_eq!(line(&mut stdout), "connected");
        Driver {
            child,
            stdin,
            stdout,
            samples: RefCell::new(Vec::new()),
        }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        writeln!(self.stdin, "{n}").unwrap();
        let ns: u64 = line(&mut self.stdout).parse().unwrap();
        self.samples.borrow_mut().push(ns as f64 / n.max(1) as f64);
        Duration::from_nanos(ns)
    }

    /// The median time per round trip over the batches since the last
    /// call (the samples are then dropped).
    fn take_median_ns(&self) -> f64 {
        let mut samples = std::mem::take(&mut *self.samples.borrow_mut());
        samples.sort_by(f64::total_cmp);
        samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn finish(mut self) {
        drop(self.stdin);
        self.child.wait().unwrap();
    }
}

/// A CPython manager server (`SyncManager`) on a Unix socket.
const PY_MANAGER: &str = r#"
import sys
from multiprocessing.managers import SyncManager
server = SyncManager(address=sys.argv[1], authkey=bytes.fromhex(sys.argv[2])).get_server()
print('ready', flush=True)
server.serve_forever()
"#;

/// The measured manager client: `q.put(msg); q.get()` per count.
const PY_MANAGER_CLIENT: &str = r#"
import sys, time
from multiprocessing.managers import SyncManager
m = SyncManager(address=sys.argv[1], authkey=bytes.fromhex(sys.argv[2]))
m.connect()
q = m.Queue()
msg = ('job', 42, 1.5)
print('connected', flush=True)
for line in sys.stdin:
    n = int(line)
    start = time.perf_counter_ns()
    for _ in range(n):
        q.put(msg)
        q.get()
    print(time.perf_counter_ns() - start, flush=True)
"#;

/// The ratio mp/CPython of the median time per round trip, from batches
/// of `n` run alternately (so a change in the machine's load hits both
/// sides alike, which criterion's one-after-the-other runs cannot promise).
fn interleaved(mp: &mut Driver, py: &mut Driver, n: u64) -> (f64, f64) {
    mp.take_median_ns();
    py.take_median_ns();
    for _ in 0..15 {
        mp.round_trips(n);
        py.round_trips(n);
    }
    (mp.take_median_ns(), py.take_median_ns())
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
    let files = BenchFiles::from_env();
    files.stamped(env!("CARGO_CRATE_NAME"), || measure_all(&files));
}

fn measure_all(files: &BenchFiles) {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();

    let mp_path = socket_path("mp");
    let listener = Listener::bind(Address::Unix(mp_path.clone()), Some(KEY)).unwrap();
    let echo = std::thread::spawn(move || mp_echo(listener));
    let mut to_mp = Driver::connect(PY_CLIENT, &mp_path);

    let py_path = socket_path("py");
    let (mut py_echo, _py_in, mut py_out) =
        python(PY_ECHO, &[py_path.to_str().unwrap(), &hex(KEY)]);
    assert_eq!(line(&mut py_out), "ready");
    let mut to_py = Driver::connect(PY_CLIENT, &py_path);

    let mut group = c.benchmark_group("python_wire/roundtrip");
    group.bench_function("python_client_to_mp_listener", |b| {
        b.iter_custom(|n| to_mp.round_trips(n))
    });
    group.bench_function("python_client_to_python_listener", |b| {
        b.iter_custom(|n| to_py.round_trips(n))
    });
    group.finish();

    let (mp, py) = interleaved(&mut to_mp, &mut to_py, 2000);
    let mut interleaved_medians = vec![
        json!({"full_id": "python_wire/roundtrip/interleaved_batches/python_client_to_mp_listener", "median_ns": mp}),
        json!({"full_id": "python_wire/roundtrip/interleaved_batches/python_client_to_python_listener", "median_ns": py}),
    ];
    println!(
        "python client round trip (interleaved batches): to mp Listener {:.1} us, to Python Listener {:.1} us; \
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

    // W9: queue put + get through a manager.
    let mp_manager_path = socket_path("mp-manager");
    let clients = PythonClients::bind(Address::Unix(mp_manager_path.clone()), KEY).unwrap();
    let server = BaseManager::new()
        .address(Address::unique())
        .authkey(KEY)
        .serve_also(move |objects| clients.serve(objects))
        .get_server()
        .unwrap();
    std::thread::spawn(move || server.serve_forever());
    let mut to_mp = Driver::connect(PY_MANAGER_CLIENT, &mp_manager_path);
    let py_manager_path = socket_path("py-manager");
    let (mut py_manager, _py_in, mut py_out) =
        python(PY_MANAGER, &[py_manager_path.to_str().unwrap(), &hex(KEY)]);
    assert_eq!(line(&mut py_out), "ready");
    let mut to_py = Driver::connect(PY_MANAGER_CLIENT, &py_manager_path);

    let mut group = c.benchmark_group("python_manager/queue_put_get");
    group.bench_function("python_client_to_mp_manager", |b| {
        b.iter_custom(|n| to_mp.round_trips(n))
    });
    group.bench_function("python_client_to_python_manager", |b| {
        b.iter_custom(|n| to_py.round_trips(n))
    });
    group.finish();
    let (mp, py) = interleaved(&mut to_mp, &mut to_py, 1000);
    interleaved_medians.extend([
        json!({"full_id": "python_manager/queue_put_get/interleaved_batches/python_client_to_mp_manager", "median_ns": mp}),
        json!({"full_id": "python_manager/queue_put_get/interleaved_batches/python_client_to_python_manager", "median_ns": py}),
    ]);
    files.write(
        "python_wire/interleaved/summary.json",
        &json!({ "results": interleaved_medians }).to_string(),
    );
    println!(
        "W9 (interleaved batches) python client queue put+get: mp manager {:.1} us ({:.0} calls/s), \
         Python manager {:.1} us ({:.0} calls/s); mp/Python calls per second = {:.2} \
         (target >= 2)",
        mp / 1e3,
        2e9 / mp,
        py / 1e3,
        2e9 / py,
        py / mp
    );
    to_mp.finish();
    to_py.finish();
    let _ = py_manager.kill();
    py_manager.wait().unwrap();
    let _ = std::fs::remove_file(&mp_manager_path);
    let _ = std::fs::remove_file(&py_manager_path);
    c.final_summary();
}
