//! A sender and a receiver process at the two ends of a `Pipe`, stopping on
//! an `"END"` message (seed 002, "Solution 4: Pipes").
//!
//! ```python
//! def sender(conn, msgs):
//!     for msg in msgs:
//!         conn.send(msg)
//!         print("Sent the message: {}".format(msg))
//!     conn.close()
//!
//! def receiver(conn):
//!     while 1:
//!         msg = conn.recv()
//!         if msg == "END":
//!             break
//!         print("Received the message: {}".format(msg))
//!
//! parent_conn, child_conn = multiprocessing.Pipe()
//! p1 = multiprocessing.Process(target=sender, args=(parent_conn,msgs))
//! p2 = multiprocessing.Process(target=receiver, args=(child_conn,))
//! ```
//!
//! `Pipe()` is `pipe()`; `recv()` names the type it expects
//! (`recv::<String>()`). A `Connection` given to a child moves into it: the
//! parent's copy is closed for it, which Python code does by hand.

use mp_pipe::{Connection, pipe};
use mp_process::Process;

fn sender(mut conn: Connection, msgs: Vec<String>) {
    for msg in msgs {
        conn.send(&msg).expect("send a message");
        println!("Sent the message: {msg}");
    }
    conn.close();
}

fn receiver(conn: Connection) {
    loop {
        let msg: String = conn.recv().expect("receive a message");
        if msg == "END" {
            break;
        }
        println!("Received the message: {msg}");
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let msgs: Vec<String> = ["hello", "hey", "hru?", "END"].map(String::from).to_vec();

    let (parent_conn, child_conn) = pipe()?;

    let mut p1 = Process::new(sender, (parent_conn, msgs));
    let mut p2 = Process::new(receiver, (child_conn,));

    p1.start()?;
    p2.start()?;

    p1.join()?;
    p2.join()?;
    Ok(())
}
