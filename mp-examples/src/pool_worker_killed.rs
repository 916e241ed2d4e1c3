//! A pool worker killed in the middle of a task (not in the seeds: what
//! CPython gets wrong). mp fails that one task with `WorkerLost`, at once,
//! replaces the worker, and the pool goes on.
//!
//! ```python
//! import os, signal
//! from multiprocessing import Pool
//!
//! def square(x):
//!     if x == 3:
//!         os.kill(os.getpid(), signal.SIGKILL)   # or the OOM killer
//!     return x * x
//!
//! with Pool(2) as pool:
//!     print(pool.map(square, range(8)))   # never returns
//! ```
//!
//! CPython's `Pool` replaces the dead worker but forgets the task it held,
//! so `map` waits for it forever (bpo-22393, reported in 2014, still so;
//! `concurrent.futures` breaks the whole pool instead). In mp the task's
//! own result is the error `WorkerLost` with the signal, every other result
//! arrives, and the next call finds a full pool again.

use mp_pool::{Error, Pool};
use rustix::process::{Signal, getpid, kill_process};

/// Squares `x`, except that the worker running item 3 is killed (SIGKILL,
/// as the OOM killer would).
fn square_or_die(x: u64) -> u64 {
    if x == 3 {
        let _ = kill_process(getpid(), Signal::KILL);
    }
    x * x
}

fn square(x: u64) -> u64 {
    x * x
}

/// Runs the program.
pub fn main() -> crate::Result {
    let pool = Pool::new(2)?;
    let results: Vec<Result<u64, Error>> = pool.imap(square_or_die, 0..8u64)?.collect();
    for (x, result) in results.iter().enumerate() {
        match result {
            Ok(y) => println!("square({x}) = {y}"),
            Err(e) => println!("square({x}) failed: {e}"),
        }
    }
    let lost = results
        .iter()
        .filter(|r| matches!(r, Err(Error::WorkerLost { .. })))
        .count();
    let delivered = results.iter().filter(|r| r.is_ok()).count();
    println!("{lost} task lost with its worker, {delivered} results delivered");
    println!("the pool still works: {:?}", pool.map(square, 0..4u64)?);
    println!("(CPython's Pool.map waits forever here)");
    Ok(())
}
