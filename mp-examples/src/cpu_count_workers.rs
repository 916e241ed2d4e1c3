//! One process per CPU, each squaring numbers, started then joined (seed
//! 001, the first cell after the imports).
//!
//! ```python
//! processes = []
//! num_processes = os.cpu_count()
//! for i in range(num_processes):
//!     p = Process(target=square_numbers)
//!     processes.append(p)
//! for p in processes:
//!     p.start()
//! for p in processes:
//!     p.join()
//! ```
//!
//! `os.cpu_count()` is `mp_process::cpu_count()`. The original prints
//! nothing; the port says what happened, with each worker's exit code.

use std::hint::black_box;

use mp_process::{Process, cpu_count};

fn square_numbers() {
    for i in 0..100u64 {
        black_box(i * i);
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let num_processes = cpu_count();
    let mut processes: Vec<Process> = (0..num_processes)
        .map(|_| Process::new(square_numbers, ()))
        .collect();

    println!("Starting {num_processes} processes (one per CPU)");
    for p in &mut processes {
        p.start()?;
    }
    let mut codes = Vec::new();
    for p in &processes {
        codes.push(p.join()?);
    }
    println!("All {num_processes} processes joined, exit codes {codes:?}");
    Ok(())
}
