//! Memory of mp's helper processes when idle: the proportional set size
//! (PSS: each resident page's size divided by the number of processes that
//! map it, from `/proc/<pid>/smaps_rollup`) of a `Pool(4)` worker per start
//! method after a warm-up map, of a manager's server process and of the
//! forkserver. Each case is written beside criterion's results as
//! `memory/pss/<case>/pss.json`; bench_report sets it beside CPython's
//! (workloads.py measures the same processes).
//!
//! Not a criterion bench (a size is not a time), but it takes criterion's
//! command line, so `cargo bench -- FILTER` selects its cases as well: an
//! id containing the filter, or one of its `|`-separated parts (where
//! criterion takes a whole regex).

use std::time::{Duration, Instant};

use mp::manager::BaseManager;
use mp::pool::Pool;
use mp::process::{Process, StartMethod};

mod report_files;

/// The pool's size, as in the issue that asked for these rows.
const WORKERS: usize = 4;

fn square(x: u64) -> u64 {
    x * x
}

fn trivial() {}

/// The PSS of process `pid`, in bytes.
fn pss(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/smaps_rollup: {e}"));
    let kib = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|l| l.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no Pss line for {pid}:\n{rollup}"));
    kib * 1024
}

/// Waits until process `pid` sleeps (state `S` in `/proc/<pid>/stat`):
/// idle, waiting for work. Panics after 10 s.
fn wait_idle(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if state == Some("S") {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} is not idle: {stat}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes the mean PSS of the idle processes `pids` as case `id`.
fn record(id: &str, pids: &[u32]) {
    assert!(!pids.is_empty(), "{id}: no process to measure");
    pids.iter().copied().for_each(wait_idle);
    let mean = pids.iter().map(|&pid| pss(pid)).sum::<u64>() / pids.len() as u64;
    println!(
        "{id}: PSS {} KiB per process ({} measured)",
        mean >> 10,
        pids.len()
    );
    report_files::write(
        format!("{id}/pss.json"),
        &format!(
            "{{\"full_id\":\"{id}\",\"pss_bytes\":{mean},\"processes\":{}}}\n",
            pids.len()
        ),
    );
}

/// Criterion's options that take a value (the next argument, unless given
/// as `--option=value`).
const WITH_VALUE: &[&str] = &[
    "-c",
    "--color",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// Which cases the command line selects, as criterion reads it: the first
/// argument that is neither an option nor an option's value is a filter
/// (see the module's docs); `--exact` makes it the whole id; `--list`
/// lists instead of measuring.
struct Selection {
    filter: Option<String>,
    exact: bool,
    list: bool,
}

impl Selection {
    fn from_args() -> Selection {
        let mut s = Selection {
            filter: None,
            exact: false,
            list: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => s.exact = true,
                "--list" => s.list = true,
                a if WITH_VALUE.contains(&a) => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                _ => s.filter = s.filter.take().or(Some(arg)),
            }
        }
        s
    }

    /// Whether case `id` runs (with `--list`, prints it instead).
    fn runs(&self, id: &str) -> bool {
        let chosen = match &self.filter {
            None => true,
            Some(f) if self.exact => id == f,
            Some(f) => f.split('|').any(|part| id.contains(part)),
        };
        if chosen && self.list {
            println!("{id}: benchmark");
        }
        chosen && !self.list
    }
}

fn measure() {
    let selection = Selection::from_args();
    for method in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        let id = format!("memory/pss/pool_worker_idle/{}", method.name());
        if selection.runs(&id) {
            let pool = Pool::builder()
                .processes(WORKERS)
                .start_method(method)
                .build()
                .unwrap();
            pool.map(square, 0..1000u64).unwrap();
            record(&id, &pool.pids());
            pool.close();
            pool.join().unwrap();
        }
    }

    // CPython's side runs its manager under forkserver too (3.14's default).
    let id = "memory/pss/manager_server/forkserver";
    if selection.runs(id) {
        let manager = BaseManager::new()
            .start_method(StartMethod::Forkserver)
            .start()
            .unwrap();
        let list = manager.list::<u64>().unwrap();
        for i in 0..100 {
            list.append(&i).unwrap();
        }
        drop(list);
        record(id, &[manager.pid().expect("a started manager has a pid")]);
        manager.shutdown().unwrap();
    }

    // The forkserver alone: measured last, when the pool's and the manager's
    // processes it forked are gone.
    let id = "memory/pss/forkserver";
    if selection.runs(id) {
        let mut p = Process::new(trivial, ()).start_method(StartMethod::Forkserver);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        // Not a stable API of mp-process (doc-hidden): the only way to the
        // forkserver's pid.
        let (pid, _) = mp::process::forkserver_info().expect("a forkserver runs");
        record(id, &[pid]);
    }
}

fn main() {
    report_files::main(measure);
}
