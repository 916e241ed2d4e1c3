//! A child fills a shared `Array` and stores its sum in a shared `Value`
//! (seed 000, "2. Sharing data with global process").
//!
//! ```python
//! def add_sum(cool_list, result, val_sum):
//!     for idx, num in enumerate(cool_list):
//!         result[idx] = num*idx
//!     val_sum.value = sum(result)
//!
//! result = multiprocessing.Array('i', 4)
//! val_sum = multiprocessing.Value('i')
//! p1 = multiprocessing.Process(target=add_sum, args=(mylist, result, val_sum))
//! ```
//!
//! `Array('i', 4)` is `Array::<i32>::zeroed(4)`, `Value('i')` is
//! `Value::new(0i32)`; the child gets clones of the handles, which are the
//! same memory. (The original prints its two results under swapped labels
//! and slices the `Value`; the port prints what it means to.)

use mp_process::Process;
use mp_shm::{Array, Value};

fn add_sum(cool_list: Vec<i32>, result: Array<i32>, val_sum: Value<i32>) {
    let mut result = result.lock().expect("lock the result array");
    for (idx, num) in cool_list.iter().enumerate() {
        result[idx] = num * idx as i32;
    }
    val_sum
        .set_value(result.iter().sum())
        .expect("store the sum");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let my_list = vec![1, 2, 3, 4];
    let result = Array::<i32>::zeroed(4)?;
    let val_sum = Value::new(0i32)?;

    let mut p1 = Process::new(add_sum, (my_list, result.clone(), val_sum.clone()));
    p1.start()?;
    p1.join()?;

    println!(
        " the sum {}, and the array {:?}",
        val_sum.value()?,
        result.to_vec()?
    );
    Ok(())
}
