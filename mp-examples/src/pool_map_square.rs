//! `Pool(4)` used as a context manager (seed 003, "Using a Pool of
//! Processes").
//!
//! ```python
//! def square(n):
//!     return n * n
//!
//! with Pool(4) as pool:
//!     numbers = [1, 2, 3, 4]
//!     results = pool.map(square, numbers)
//! print(results)
//! ```
//!
//! The `with` block is a scope: the pool is terminated when it is dropped
//! at its end, as Python's `__exit__` does.

use mp_pool::Pool;

fn square(n: i64) -> i64 {
    n * n
}

/// Runs the program.
pub fn main() -> crate::Result {
    let results = {
        let pool = Pool::new(4)?;
        let numbers = [1, 2, 3, 4];
        pool.map(square, numbers)?
    };
    println!("{results:?}");
    Ok(())
}
