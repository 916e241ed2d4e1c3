//! The same `worker` run on a thread and in a process (seed 003,
//! "Multi-threading vs Multi-processing", cells In \[1\] and In \[2\]).
//!
//! ```python
//! thread = threading.Thread(target=worker)
//! thread.start()
//!
//! process = Process(target=worker)
//! process.start()
//! ```
//!
//! `threading.Thread` is `std::thread::spawn`; `Process` looks the same but
//! runs `worker` in another process. The notebook never joins either; the
//! port joins both, as a script must.

use mp_process::Process;

fn thread_worker() {
    println!("Worker thread");
}

fn process_worker() {
    println!("Worker process");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let thread = std::thread::spawn(thread_worker);
    thread.join().map_err(|_| "the worker thread panicked")?;

    let mut process = Process::new(process_worker, ());
    process.start()?;
    process.join()?;
    Ok(())
}
