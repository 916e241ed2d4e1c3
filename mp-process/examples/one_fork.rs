//! Times start+join of a trivial child per start method, beside a raw fork
//! (a quick diagnostic; the criterion bench is benches/process.rs).
#![allow(unsafe_code)]
use std::time::Instant;

use mp_process::{Process, StartMethod};

fn trivial() {}

fn faults() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    (f[7].parse().unwrap(), f[9].parse().unwrap()) // minflt, majflt... (minflt=10th field)
}

fn main() {
    let n = 500;
    let t = Instant::now();
    let f0 = faults();
    for _ in 0..n {
        // SAFETY: the child only calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(0) };
        }
        let mut st = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
    }
    let f1 = faults();
    println!(
        "raw fork: {:?}/iter, parent minor faults/iter {}",
        t.elapsed() / n,
        (f1.0 - f0.0) / n as u64
    );
    for method in [StartMethod::Fork, StartMethod::Forkserver] {
        let t = Instant::now();
        let f0 = faults();
        for _ in 0..n {
            let mut p = Process::new(trivial, ()).start_method(method);
            p.start().unwrap();
            p.join().unwrap();
        }
        let f1 = faults();
        println!(
            "{method}: {:?}/iter, parent minor faults/iter {}",
            t.elapsed() / n,
            (f1.0 - f0.0) / n as u64
        );
    }
}
