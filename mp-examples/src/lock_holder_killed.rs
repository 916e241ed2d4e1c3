//! A process killed while it holds a lock (not in the seeds: what CPython
//! gets wrong). mp gives the next acquirer the lock together with an
//! `OwnerDied` warning, so it can repair the data; CPython deadlocks.
//!
//! ```python
//! from multiprocessing import Process, Value
//!
//! def hold_forever(counter):
//!     with counter.get_lock():
//!         counter.value += 1
//!         time.sleep(3600)          # killed in here
//!
//! counter = Value('i', 0)
//! p = Process(target=hold_forever, args=(counter,))
//! p.start(); time.sleep(0.1); p.kill(); p.join()
//! with counter.get_lock():          # blocks forever
//!     print(counter.value)
//! ```
//!
//! A CPython lock is a POSIX semaphore: nothing records who holds it, so a
//! holder's death leaves it taken for good. mp's locks record their holder;
//! a waiter that finds the holder dead takes the lock over and is told so.

use std::time::Duration;

use mp_pipe::{Connection, pipe_simplex};
use mp_process::Process;
use mp_shm::Value;

/// Takes the counter's lock, adds one, says so, and waits to be killed.
fn hold_forever(counter: Value<i32>, ready: Connection) {
    let mut guard = counter.lock().expect("the lock is free");
    *guard += 1;
    ready.send(&"holding").expect("tell the parent");
    std::thread::sleep(Duration::from_secs(3600));
}

/// Runs the program.
pub fn main() -> crate::Result {
    let counter = Value::new(0i32)?;
    let (ready_rx, ready_tx) = pipe_simplex()?;
    let mut holder = Process::new(hold_forever, (counter.clone(), ready_tx));
    holder.start()?;
    let said: String = ready_rx.recv_timeout(Duration::from_secs(30))?;
    println!("the child is {said} the lock");
    holder.kill()?;
    println!("child killed, exit code {:?}", holder.join()?);

    match counter.lock() {
        Ok(_) => println!("lock taken as if nothing happened"),
        Err(died) => {
            let guard = died.into_inner();
            println!(
                "lock recovered with OwnerDied: the holder died holding it; counter = {}",
                *guard
            );
            guard.mark_consistent();
        }
    }
    println!("(CPython blocks forever on this acquire)");
    Ok(())
}
