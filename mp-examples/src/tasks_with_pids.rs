//! Two processes report the pid they run in while the parent goes on (seed
//! 003, "Another multiprocessing example").
//!
//! ```python
//! def task(name):
//!     print(f"Task {name} running in process {os.getpid()}", flush=True)
//!
//! process1 = Process(target=task, args=("A",))
//! process2 = Process(target=task, args=("B",))
//! process1.start()
//! process2.start()
//! print("Processes started", flush=True)
//! process1.join()
//! process2.join()
//! ```
//!
//! Rust's `println!` flushes at each line, so `flush=True` needs no
//! counterpart. The notebook shows only "Processes started" (its children
//! printed to the terminal, not to the notebook); here every line appears.

use mp_process::Process;

fn task(name: String) {
    println!("Task {name} running in process {}", std::process::id());
}

/// Runs the program.
pub fn main() -> crate::Result {
    let mut process1 = Process::new(task, ("A".to_string(),));
    let mut process2 = Process::new(task, ("B".to_string(),));

    process1.start()?;
    process2.start()?;

    println!("Processes started");

    process1.join()?;
    process2.join()?;
    Ok(())
}
