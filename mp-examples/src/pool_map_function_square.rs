//! `Pool(processes=4).map` over 100 inputs, then `close` and `join` (seed
//! 004, "# Process Pool").
//!
//! ```python
//! def function_square(data):
//!     result = data*data
//!     return result
//!
//! inputs = list(range(0,100))
//! pool = multiprocessing.Pool(processes=4)
//! pool_outputs = pool.map(function_square, inputs)
//! pool.close()
//! pool.join()
//! print ('Pool    :', pool_outputs)
//! ```
//!
//! `map` takes the items by value or by reference (`&inputs` works), and
//! returns the results in order.

use mp_pool::Pool;

fn function_square(data: u64) -> u64 {
    data * data
}

/// Runs the program.
pub fn main() -> crate::Result {
    let inputs: Vec<u64> = (0..100).collect();
    let pool = Pool::new(4)?;
    let pool_outputs = pool.map(function_square, &inputs)?;

    pool.close();
    pool.join()?;
    println!("Pool    : {pool_outputs:?}");
    Ok(())
}
