//! `Pool.map` with a default-sized pool (seed 001, "Pool").
//!
//! ```python
//! def cube(number):
//!     return number * number * number
//!
//! numbers = range(10)
//! pool = Pool()
//! result = pool.map(cube, numbers)
//! print(result)
//! ```
//!
//! `Pool()` is `Pool::new(None)`: one worker per CPU. The function is a
//! plain `fn`; items and results are serde values. The notebook never
//! closes its pool; here `close` + `join` let the workers finish (dropping
//! a pool would terminate them, like leaving Python's `with Pool()`).

use mp_pool::Pool;

fn cube(number: u64) -> u64 {
    number * number * number
}

/// Runs the program.
pub fn main() -> crate::Result {
    let numbers = 0..10u64;
    let pool = Pool::new(None)?;
    let result = pool.map(cube, numbers)?;
    println!("{result:?}");
    pool.close();
    pool.join()?;
    Ok(())
}
