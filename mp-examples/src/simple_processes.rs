//! Two processes print their pids while the parent asks whether they are
//! alive (seed 000, "1. Simple Multiprocessing").
//!
//! ```python
//! def print_cool(a):
//!     print("cool {}".format(a))
//!     print("process id {}".format(os.getpid()))
//!
//! p1 = multiprocessing.Process(target=print_cool, args=("cool it is",))
//! p2 = multiprocessing.Process(target=print_rule, args=("ok it is",))
//! p1.start()
//! p2.start()
//! print("Process p1 alive ? {}".format(p1.is_alive()))
//! p1.join()
//! p2.join()
//! ```
//!
//! `target=f, args=(a,)` becomes `Process::new(f, (a,))`: the target is a
//! plain `fn` and its arguments are serde values (here a `String`).

use mp_process::Process;

fn print_cool(a: String) {
    println!("cool {a}");
    println!("process id {}", std::process::id());
}

fn print_rule(b: String) {
    println!("rule {b}");
    println!("process id {}", std::process::id());
}

/// Runs the program.
pub fn main() -> crate::Result {
    let mut p1 = Process::new(print_cool, ("cool it is".to_string(),));
    let mut p2 = Process::new(print_rule, ("ok it is".to_string(),));

    p1.start()?;
    p2.start()?;

    println!("Process p1 alive ? {}", p1.is_alive());
    println!("Process p2 alive ? {}", p2.is_alive());

    p1.join()?;
    p2.join()?;
    Ok(())
}
