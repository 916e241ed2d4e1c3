//! Two processes each add 1 to every element of a shared `Array` 100 times,
//! under a `Lock` (seed 001, "Shared array").
//!
//! ```python
//! def add_100(numbers, lock):
//!     for i in range(100):
//!         time.sleep(0.01)
//!         with lock:
//!             for i in range(len(numbers)):
//!                 numbers[i] += 1
//!
//! lock = Lock()
//! shared_array = Array('d', [0.0, 100.0, 200.0])
//! ```
//!
//! The tutorial prints "Array at beginning is" twice and an unchanged
//! array; the port prints the end state, `[200.0, 300.0, 400.0]`.
//! `Array('d', [...])` is `Array::<f64>::from_slice(&[...])`, here with the
//! tutorial's lock as its own (`Array::with_lock`).

use std::thread::sleep;
use std::time::Duration;

use mp_process::Process;
use mp_shm::{Array, Lock};

fn add_100(numbers: Array<f64>, lock: Lock) {
    for _ in 0..100 {
        sleep(Duration::from_millis(10));
        let held = lock.acquire().expect("acquire the lock");
        for i in 0..numbers.len() {
            let x = numbers.get_with(&held, i).expect("read under the lock");
            numbers
                .set_with(&held, i, x + 1.0)
                .expect("write under the lock");
        }
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let lock = Lock::new()?;
    let shared_array = Array::with_lock(&[0.0, 100.0, 200.0], lock.clone())?;
    println!("Array at beginning is:  {:?}", shared_array.to_vec()?);

    let mut p1 = Process::new(add_100, (shared_array.clone(), lock.clone()));
    let mut p2 = Process::new(add_100, (shared_array.clone(), lock.clone()));

    p1.start()?;
    p2.start()?;

    p1.join()?;
    p2.join()?;

    println!("Array at the end is:  {:?}", shared_array.to_vec()?);
    Ok(())
}
