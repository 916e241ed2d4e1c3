//! mp-process on real child processes, under every start method.

use std::time::{Duration, Instant};

use mp_pipe::{Connection, pipe};
use mp_process::{
    Context, Error, JoinError, Process, Run, StartMethod, active_children, cpu_count,
    current_process, get_start_method, parent_process, set_start_method,
};
use mp_testkit::{deadline, eventually, is_running, proc_info};
use serde::{Deserialize, Serialize};

mod concurrency;
mod descriptors;
mod executable;
mod forkserver;
mod identity;
mod interrupt;
mod join_handle;
mod lifecycle;
mod logging;
mod many;
mod parent_death;
mod remote;
mod rusage;
mod sentinel;
mod stdin;

const T: Duration = Duration::from_secs(10);
const SECS: Duration = Duration::from_secs(1);

fn methods() -> [StartMethod; 3] {
    StartMethod::ALL
}

fn returns() {}

fn panics() {
    mp_testkit::panic_quietly("boom in the child");
}

fn exits(code: i32) {
    std::process::exit(code);
}

fn sleeps(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn started(p: Process) -> Process {
    let mut p = p;
    p.start().unwrap();
    p
}
