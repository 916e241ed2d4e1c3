//! W1: start and join a trivial child, per start method, beside the floors
//! (raw fork + waitpid, and a re-execution of this binary) and procspawn
//! (a peer: it re-executes the binary too).
//!
//! Criterion measures the rows one after the other, and on a small VM the
//! raw fork floor's time moves with the host's state between them; so each
//! start method is also measured in batches run alternately with its floor
//! (the median of each side's batch means, in a fresh copy of this binary,
//! before criterion's rows), written as
//! `process_start_join_interleaved/**/summary.json` for bench_report
//! (`{"results": [{"full_id", "median_ns"} or {"full_id", "note"}]}`)
//! while this binary's run is stamped, as criterion's rows are.
#![allow(unsafe_code)]

use std::process::Command;
use std::time::{Duration, Instant};

mod report_files;

use criterion::{Criterion, criterion_group};
use mp::process::{Process, StartMethod};
use serde_json::json;

/// A re-executed copy of this bench binary exits at once when it sees this.
const NOOP: &str = "MP_BENCH_NOOP";

fn trivial() {}

/// The floor: fork a child that exits at once, and wait for it.
fn raw_fork_waitpid() {
    // SAFETY: the child only calls `_exit`, which is async-signal-safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: `_exit` never returns and touches no shared state.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// spawn's floor: run this binary again, which exits at once.
fn raw_reexec() {
    let status = Command::new("/proc/self/exe")
        .env(NOOP, "1")
        .status()
        .unwrap();
    assert!(status.success());
}

/// What W1 measures: start a trivial child with `method` and join it.
fn start_join(method: StartMethod) {
    let mut p = Process::new(trivial, ()).start_method(method);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

fn start_join_group(c: &mut Criterion) {
    if measuring() {
        interleaved_batches();
    }
    let mut group = c.benchmark_group("process/start_join");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("raw_fork_waitpid", |b| b.iter(raw_fork_waitpid));
    group.bench_function("raw_reexec", |b| b.iter(raw_reexec));
    for method in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        group.bench_function(method.name(), |b| b.iter(|| start_join(method)));
    }
    // Last: procspawn leaves threads behind, which every later fork pays for.
    group.bench_function("procspawn", |b| {
        b.iter(|| procspawn::spawn((), |()| ()).join().unwrap())
    });
    group.finish();
}

criterion_group!(benches, start_join_group);

/// The mean time of one of `n` runs of `op`, in ns.
fn batch_mean_ns(n: u32, op: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
}

/// The medians of the batch means of `mp` and of `floor`, from `batches`
/// batches of `n` each run alternately (each side first in every other
/// pair), after one warm-up batch of each: a change in the machine's state
/// hits both sides alike.
fn alternate(batches: usize, n: u32, mut mp: impl FnMut(), mut floor: impl FnMut()) -> (f64, f64) {
    batch_mean_ns(n, &mut mp);
    batch_mean_ns(n, &mut floor);
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..batches {
        if i % 2 == 0 {
            mine.push(batch_mean_ns(n, &mut mp));
            theirs.push(batch_mean_ns(n, &mut floor));
        } else {
            theirs.push(batch_mean_ns(n, &mut floor));
            mine.push(batch_mean_ns(n, &mut mp));
        }
    }
    (median(mine), median(theirs))
}

const FORK_BATCHES: (usize, u32) = (15, 300);
const SPAWN_BATCHES: (usize, u32) = (11, 30);
const BATCHES: &str = "process/start_join/interleaved_batches";
/// Where the batches' medians go, under criterion's directory: the note in
/// `summary.json`, each method's medians in `<method>/summary.json`.
const BATCHES_DIR: &str = "process_start_join_interleaved";

/// A re-executed copy of this bench binary measures this start method in
/// interleaved batches, writes its medians and exits.
const BATCHES_OF: &str = "MP_BENCH_W1_BATCHES_OF";

/// W1 in interleaved batches, each start method beside its floor, in this
/// order: fork, forkserver, spawn. Each is measured in a fresh copy of this
/// binary, before criterion's rows: no forkserver exists yet for fork's
/// (once one does, mp's fork start+join is slower), criterion's analyses
/// have not yet grown the heap (which slows every later fork of this
/// process, the raw floor's too), and none is left behind for criterion's
/// rows.
fn interleaved_batches() {
    for method in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        let status = Command::new("/proc/self/exe")
            .env(BATCHES_OF, method.name())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "W1 batches of {}: {status}",
            method.name()
        );
    }
    let note = format!(
        "each method and its floor in alternating batches ({} of {} starts each for fork and \
         forkserver, {} of {} for spawn, after a warm-up batch of each), the median of the batch \
         means; each method in a fresh copy of the bench binary, before criterion's rows",
        FORK_BATCHES.0, FORK_BATCHES.1, SPAWN_BATCHES.0, SPAWN_BATCHES.1
    );
    report_files::write(
        format!("{BATCHES_DIR}/summary.json"),
        &json!({"results": [{"full_id": BATCHES, "note": note}]}).to_string(),
    );
}

/// The re-executed copy's work: `method` (by name) beside its floor.
fn batches_of(method: &str) {
    let (method, floor, floor_op, (batches, n)): (_, _, fn(), _) = match method {
        "fork" => (
            StartMethod::Fork,
            "raw_fork_waitpid",
            raw_fork_waitpid,
            FORK_BATCHES,
        ),
        "forkserver" => (
            StartMethod::Forkserver,
            "raw_fork_waitpid",
            raw_fork_waitpid,
            FORK_BATCHES,
        ),
        "spawn" => (StartMethod::Spawn, "raw_reexec", raw_reexec, SPAWN_BATCHES),
        other => panic!("no W1 batches for {other:?}"),
    };
    let (mine, theirs) = alternate(batches, n, || start_join(method), floor_op);
    let method = method.name();
    println!(
        "W1 (interleaved batches, {batches} x {n} each) {method}: mp {:.1} us, \
         {floor} {:.1} us; mp/floor = {:.2}",
        mine / 1e3,
        theirs / 1e3,
        mine / theirs
    );
    let results = [
        json!({"full_id": format!("{BATCHES}/{method}"), "median_ns": mine}),
        json!({"full_id": format!("{BATCHES}/{floor}_beside_{method}"), "median_ns": theirs}),
    ];
    report_files::write(
        format!("{BATCHES_DIR}/{method}/summary.json"),
        &json!({ "results": results }).to_string(),
    );
}

/// Whether criterion was asked to measure (`cargo bench`), not to test
/// each bench once (`cargo test --benches`) or to list them.
fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--test" || a == "--list" || a == "--profile-time")
}

fn main() {
    if std::env::var_os(NOOP).is_some() {
        return;
    }
    if let Some(method) = std::env::var_os(BATCHES_OF) {
        batches_of(&method.to_string_lossy());
        return;
    }
    // procspawn's children start by re-running this binary up to here.
    procspawn::init();
    report_files::main(benches);
}
