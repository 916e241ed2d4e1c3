//! A daemon and a non-daemon process, and what happens to each when their
//! parent's script ends (seed 004, the first program).
//!
//! ```python
//! def foo():
//!     name = multiprocessing.current_process().name
//!     print ("Starting %s \n" %name)
//!     time.sleep(3)
//!     print ("Exiting %s \n" %name)
//!
//! background_process = multiprocessing.Process(name='background_process', target=foo)
//! background_process.daemon = True
//! NO_background_process = multiprocessing.Process(name='NO_background_process', target=foo)
//! NO_background_process.daemon = False
//! background_process.start()
//! NO_background_process.start()
//! # Starting NO_background_process
//! # Exiting NO_background_process
//! ```
//!
//! The script starts both and simply ends. At exit mp does what Python
//! does: it terminates daemonic children and waits for the others. So the
//! daemon never gets to say "Exiting" (it may not even have said
//! "Starting"), and the other one runs to the end.
//!
//! Because the tour goes on after this program, the script's body runs as
//! a process of its own (`script`), and its exit is the end of the script.
//! The three seconds are shortened to one.

use std::thread::sleep;
use std::time::Duration;

use mp_process::{Process, current_process};

fn foo() {
    let name = current_process().name().to_string();
    println!("Starting {name} \n");
    sleep(Duration::from_secs(1));
    println!("Exiting {name} \n");
}

/// The Python `if __name__ == '__main__':` block.
fn script() {
    let mut background_process = Process::new(foo, ())
        .name("background_process")
        .daemon(true);
    let mut no_background_process = Process::new(foo, ())
        .name("NO_background_process")
        .daemon(false);
    background_process.start().expect("start the daemon");
    no_background_process.start().expect("start the non-daemon");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let mut main_process = Process::new(script, ()).name("MainProcess");
    main_process.start()?;
    main_process.join()?;
    Ok(())
}
