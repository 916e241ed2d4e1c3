//! Two processes each add 100 to a shared `Value` under a `Lock` (seed 001,
//! "Shared value").
//!
//! ```python
//! def add_100(number, lock):
//!     for i in range(100):
//!         time.sleep(0.01)
//!         with lock:
//!             number.value += 1
//!
//! lock = Lock()
//! shared_number = Value('i', 0)
//! p1 = Process(target=add_100, args=(shared_number, lock))
//! p2 = Process(target=add_100, args=(shared_number, lock))
//! ```
//!
//! The tutorial's printed output says `Number at the end is:  0` (its run
//! lost the children's work); the port prints 200.
//!
//! The value is created with the tutorial's lock as its own lock
//! (`Value::with_lock`, Python's `Value('i', 0, lock=lock)`), so
//! `with lock: number.value += 1` reads and writes the value through the
//! held guard. Without a separate lock it is just `*number.lock()? += 1`.

use std::thread::sleep;
use std::time::Duration;

use mp_process::Process;
use mp_shm::{Lock, Value};

fn add_100(number: Value<i32>, lock: Lock) {
    for _ in 0..100 {
        sleep(Duration::from_millis(10));
        let held = lock.acquire().expect("acquire the lock");
        let n = number.get_with(&held).expect("read under the lock");
        number.set_with(&held, n + 1).expect("write under the lock");
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let lock = Lock::new()?;
    let shared_number = Value::with_lock(0i32, lock.clone())?;
    println!("Number at beginning is:  {}", shared_number.value()?);

    let mut p1 = Process::new(add_100, (shared_number.clone(), lock.clone()));
    let mut p2 = Process::new(add_100, (shared_number.clone(), lock.clone()));

    p1.start()?;
    p2.start()?;

    p1.join()?;
    p2.join()?;

    println!("Number at the end is:  {}", shared_number.value()?);
    println!("(the tutorial's Python run printed 0 here: its children's work was lost)");
    Ok(())
}
