//! A chain of two processes joined by pipes, each stage ending when its
//! input reaches end of file (seed 004, "# Pipes").
//!
//! ```python
//! def create_items(pipe):
//!     output_pipe, _ = pipe
//!     for item in range(10):
//!         output_pipe.send(item)
//!     output_pipe.close()
//!
//! def multiply_items(pipe_1, pipe_2):
//!     close, input_pipe = pipe_1
//!     close.close()
//!     output_pipe, _ = pipe_2
//!     try:
//!         while True:
//!             item = input_pipe.recv()
//!             output_pipe.send(item * item)
//!     except EOFError:
//!         output_pipe.close()
//!
//! pipe_1[0].close()
//! pipe_2[0].close()
//! try:
//!     while True:
//!         print (pipe_2[1].recv())
//! except EOFError:
//!     print ("End")
//! ```
//!
//! Python passes both ends of each pipe around and closes the unused ones
//! by hand, or the reader never sees EOF. In Rust each stage is given only
//! the ends it uses, and a `Connection` moved into a child is closed in the
//! parent, so EOF arrives on its own. `EOFError` is `Error::Eof`.

use mp_pipe::{Connection, Error, pipe};
use mp_process::Process;

fn create_items(output_pipe: Connection) {
    for item in 0..10u64 {
        output_pipe.send(&item).expect("send an item");
    }
}

fn multiply_items(input_pipe: Connection, output_pipe: Connection) {
    loop {
        match input_pipe.recv::<u64>() {
            Ok(item) => output_pipe.send(&(item * item)).expect("send a square"),
            Err(Error::Eof) => break,
            Err(e) => panic!("receive an item: {e}"),
        }
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let (pipe_1_out, pipe_1_in) = pipe()?;
    let mut process_pipe_1 = Process::new(create_items, (pipe_1_out,));
    process_pipe_1.start()?;

    let (pipe_2_out, pipe_2_in) = pipe()?;
    let mut process_pipe_2 = Process::new(multiply_items, (pipe_1_in, pipe_2_out));
    process_pipe_2.start()?;

    loop {
        match pipe_2_in.recv::<u64>() {
            Ok(item) => println!("{item}"),
            Err(Error::Eof) => {
                println!("End");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    process_pipe_1.join()?;
    process_pipe_2.join()?;
    Ok(())
}
