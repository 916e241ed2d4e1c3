//! Peers that connect to a TCP server and never authenticate: some stay
//! silent, some keep sending junk. For tests that a server under such a
//! flood still serves its real clients at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running flood against one address; stopped (and every peer closed)
/// when dropped.
#[derive(Debug)]
pub struct Flood {
    silent: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
    garbage: Option<JoinHandle<()>>,
}

impl Flood {
    /// Opens `silent` connections that never send a byte, and keeps
    /// `garbage` connections open that send junk every 10 ms (an mp frame
    /// header announcing 1 TiB, an HTTP request, or one more byte of a frame
    /// that is not a handshake); one the server hangs up on is opened again.
    ///
    /// # Panics
    ///
    /// If a connection cannot be made (the server is not listening).
    pub fn start(addr: SocketAddr, silent: usize, garbage: usize) -> Flood {
        let silent = (0..silent)
            .map(|_| TcpStream::connect(addr).expect("a silent peer connects"))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let garbage = std::thread::Builder::new()
            .name("mp-testkit-flood".into())
            .spawn({
                let stop = stop.clone();
                move || send_garbage(addr, garbage, &stop)
            })
            .expect("cannot start the flood thread");
        Flood {
            silent,
            stop,
            garbage: Some(garbage),
        }
    }

    /// Stops sending, and closes every peer.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.garbage.take() {
            let _ = thread.join();
        }
        self.silent.clear();
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.halt();
    }
}

fn junk(peer: usize, round: usize) -> Vec<u8> {
    match (peer % 3, round) {
        (0, _) => [(1u64 << 40).to_le_bytes().as_slice(), &[0; 4]].concat(),
        (1, _) => b"GET / HTTP/1.1\r\nHost: mp\r\n\r\n".to_vec(),
        (_, 0) => [200u64.to_le_bytes().as_slice(), &[0; 4]].concat(),
        (_, _) => vec![(peer * 37 + round) as u8],
    }
}

fn send_garbage(addr: SocketAddr, n: usize, stop: &AtomicBool) {
    let open = || -> Option<(TcpStream, usize)> {
        let peer = TcpStream::connect(addr).ok()?;
        peer.set_nonblocking(true).ok()?;
        Some((peer, 0))
    };
    let mut peers: Vec<Option<(TcpStream, usize)>> = (0..n).map(|_| open()).collect();
    let mut sink = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        for (i, slot) in peers.iter_mut().enumerate() {
            let Some((peer, round)) = slot else {
                *slot = open();
                continue;
            };
            // What the server answers is read and ignored; a hang-up (or a
            // reset) means a new peer takes this one's place.
            let gone = loop {
                match peer.read(&mut sink) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) => break e.kind() != std::io::ErrorKind::WouldBlock,
                }
            };
            if gone || peer.write_all(&junk(i, *round)).is_err() {
                *slot = open();
            } else {
                *round += 1;
            }
        }
        // Paces the junk (it orders nothing).
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `n` round trips (`round_trip(i)` returns how long the `i`th took)
/// and returns those that took longer than `bound`, and longer again when
/// repeated at once. A flood that delays clients delays the repeat too; a
/// scheduling hiccup of a loaded 2-CPU machine (another test's thread,
/// a preemption) does not strike twice in a row.
pub fn slow_twice(
    n: u32,
    bound: std::time::Duration,
    mut round_trip: impl FnMut(u32) -> std::time::Duration,
) -> Vec<(u32, std::time::Duration)> {
    let mut slow = Vec::new();
    for i in 0..n {
        let took = round_trip(i);
        if took > bound {
            let again = round_trip(i);
            if again > bound {
                slow.push((i, took.min(again)));
            }
        }
    }
    slow
}
