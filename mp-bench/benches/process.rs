//! W1: start and join a trivial child, per start method, beside the floors
//! (raw fork + waitpid, and a re-execution of this binary) and procspawn
//! (a peer: it re-executes the binary too).
#![allow(unsafe_code)]

use std::process::Command;
use std::time::Duration;

mod report_files;

use criterion::{Criterion, criterion_group};
use mp::process::{Process, StartMethod};

/// A re-executed copy of this bench binary exits at once when it sees this.
const NOOP: &str = "MP_BENCH_NOOP";

fn trivial() {}

fn start_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("process/start_join");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("raw_fork_waitpid", |b| {
        b.iter(|| {
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
        })
    });
    group.bench_function("raw_reexec", |b| {
        b.iter(|| {
            let status = Command::new("/proc/self/exe")
                .env(NOOP, "1")
                .status()
                .unwrap();
            assert!(status.success());
        })
    });
    for method in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        group.bench_function(method.name(), |b| {
            b.iter(|| {
                let mut p = Process::new(trivial, ()).start_method(method);
                p.start().unwrap();
                assert_eq!(p.join().unwrap(), 0);
            })
        });
    }
    // Last: procspawn leaves threads behind, which every later fork pays for.
    group.bench_function("procspawn", |b| {
        b.iter(|| procspawn::spawn((), |()| ()).join().unwrap())
    });
    group.finish();
}

criterion_group!(benches, start_join);

fn main() {
    if std::env::var_os(NOOP).is_some() {
        return;
    }
    // procspawn's children start by re-running this binary up to here.
    procspawn::init();
    report_files::main(benches);
}
