//! A long job on a pool with a progress bar: `imap_unordered` yields each
//! result as soon as a worker has it, and the bar counts them (not in the
//! seeds: how people actually watch long work, usually with `tqdm`).
//!
//! ```python
//! from multiprocessing import Pool
//! from tqdm import tqdm
//!
//! with Pool() as pool:
//!     total = 0
//!     for result in tqdm(pool.imap_unordered(slow_square, range(48)), total=48):
//!         total += result
//! print(f"{48} results, sum of squares {total}")
//! ```
//!
//! `tqdm` is `indicatif`. The bar draws on stderr, and only on a terminal;
//! piped into a file or a test, a plain summary line says what it would
//! have shown. Each
//! item's result is a `Result`: a task that panics, or whose worker dies,
//! is an error for that item alone, and the others go on.

use std::thread::sleep;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mp_pool::Pool;

/// The number of items.
const N: u64 = 48;

/// A task that takes a while (20-80 ms), like real work.
fn slow_square(x: u64) -> u64 {
    sleep(Duration::from_millis(20 + (x * 37) % 60));
    x * x
}

/// Runs the program.
pub fn main() -> crate::Result {
    let pool = Pool::new(None)?;
    let bar = ProgressBar::new(N).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}]")?
            .progress_chars("#>-"),
    );
    let mut total = 0;
    for result in pool.imap_unordered(slow_square, 0..N)? {
        total += result?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if bar.is_hidden() {
        println!("progress: {N}/{N} done in {:.1?}", bar.elapsed());
    }
    println!("{N} results, sum of squares {total}");
    Ok(())
}
