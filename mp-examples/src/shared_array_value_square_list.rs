//! A child writes squares into a shared `Array` and their sum into a shared
//! `Value`; both the child and the parent print them (seed 002, "Solution 1:
//! Shared memory").
//!
//! ```python
//! def square_list(mylist, result, square_sum):
//!     for idx, num in enumerate(mylist):
//!         result[idx] = num * num
//!     square_sum.value = sum(result)
//!     print("Result(in process p1): {}".format(result[:]))
//!     print("Sum of squares(in process p1): {}".format(square_sum.value))
//!
//! result = multiprocessing.Array('i', 4)
//! square_sum = multiprocessing.Value('i')
//! p1 = multiprocessing.Process(target=square_list, args=(mylist, result, square_sum))
//! ```
//!
//! `result[:]` is `result.to_vec()`: a copy taken under the array's lock.

use mp_process::Process;
use mp_shm::{Array, Value};

fn square_list(mylist: Vec<i32>, result: Array<i32>, square_sum: Value<i32>) {
    {
        let mut result = result.lock().expect("lock the result array");
        for (idx, num) in mylist.iter().enumerate() {
            result[idx] = num * num;
        }
        square_sum
            .set_value(result.iter().sum())
            .expect("store the sum");
    }
    println!(
        "Result(in process p1): {:?}",
        result.to_vec().expect("read the array")
    );
    println!(
        "Sum of squares(in process p1): {}",
        square_sum.value().expect("read the sum")
    );
}

/// Runs the program.
pub fn main() -> crate::Result {
    let mylist = vec![1, 2, 3, 4];
    let result = Array::<i32>::zeroed(4)?;
    let square_sum = Value::new(0i32)?;

    let mut p1 = Process::new(square_list, (mylist, result.clone(), square_sum.clone()));
    p1.start()?;
    p1.join()?;

    println!("Result(in main program): {:?}", result.to_vec()?);
    println!("Sum of squares(in main program): {}", square_sum.value()?);
    Ok(())
}
