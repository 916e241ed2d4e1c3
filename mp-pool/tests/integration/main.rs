//! Integration tests of mp-pool: real worker processes, real shared memory.
//! Every test arms a deadline; every wait has a timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mp_pool::{Error, Pool};

mod async_results;
mod awaited;
mod basics;
mod handles;
mod interrupt;
mod lazy;
mod lifetime;
mod logging;
mod routing;
mod rusage;
mod task_errors;
mod tasks;
mod thread_pool;
mod worker_deaths;

use tasks::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Waits until none of `pids` is running.
fn all_gone(pids: &[u32]) -> bool {
    mp_testkit::eventually(secs(10), || {
        pids.iter().all(|&p| !mp_testkit::is_running(p))
    })
}
