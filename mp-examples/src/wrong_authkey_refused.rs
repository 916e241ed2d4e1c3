//! A client with the wrong authkey (not in the seeds: what CPython gets
//! wrong). mp refuses it on both sides and goes on: the client gets
//! `Error::Authentication`, the listener counts the refusal in its
//! `stats()` and keeps serving; CPython's server crashes instead.
//!
//! ```python
//! from multiprocessing.connection import Listener, Client
//!
//! with Listener(("127.0.0.1", 0), authkey=b"right key") as listener:
//!     # another process: Client(listener.address, authkey=b"wrong key")
//!     #   -> AuthenticationError: digest sent was rejected
//!     while True:
//!         conn = listener.accept()   # AuthenticationError: digest received was wrong
//!         conn.send(conn.recv())     # never reached: the server is gone
//! ```
//!
//! CPython's `Listener.accept()` runs the handshake itself and raises the
//! stranger's failure in the server, so one connection with a wrong key
//! (a port scanner, a stale client) ends the usual `while True: accept()`
//! loop unless every server wraps it in `try`. mp's listener checks keys in
//! the background: `accept` only ever returns authenticated peers, and
//! the refused ones show in `Listener::stats()`.

use std::thread;

use mp_pipe::{Address, Client, Listener};

const RIGHT_KEY: &[u8] = b"right key";

/// Connects with `key`, says hello and returns the server's answer, or why
/// it could not.
fn call(address: Address, key: Vec<u8>) -> String {
    let conn = match Client::connect(&address, Some(&key)) {
        Ok(conn) => conn,
        Err(e) => return format!("refused: {e}"),
    };
    let answer = conn.send(&"hello").and_then(|()| conn.recv::<String>());
    match answer {
        Ok(answer) => format!("served: {answer}"),
        Err(e) => format!("connected, then: {e}"),
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let listener = Listener::bind(Address::localhost(0), Some(RIGHT_KEY))?;
    let address = listener.address().clone();
    let stats = listener.stats().clone();
    // The server: one `accept`, which never sees the stranger.
    let server = thread::spawn(move || -> Result<(), mp_pipe::Error> {
        let conn = listener.accept()?;
        let greeting: String = conn.recv()?;
        conn.send(&format!("{greeting} back"))
    });

    let stranger = mp_process::spawn(call, (address.clone(), b"wrong key".to_vec()))?;
    println!("client with the wrong key: {}", stranger.join()?);
    let friend = mp_process::spawn(call, (address, RIGHT_KEY.to_vec()))?;
    println!("client with the right key: {}", friend.join()?);
    server.join().expect("the server thread panicked")?;
    println!(
        "the listener refused {} peer and served {}; accept() never returned the stranger",
        stats.refused(),
        stats.accepted()
    );
    println!("(CPython's accept() raises AuthenticationError here and the server loop ends)");
    Ok(())
}
