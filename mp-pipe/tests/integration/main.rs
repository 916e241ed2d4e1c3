//! mp-pipe on real sockets and real child processes: one test binary,
//! one module per area.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mp_pipe::{Address, Client, Connection, Error, Listener, pipe, pipe_simplex, wait};
use mp_process::{Process, StartMethod};
use mp_testkit::deadline;
use serde::{Deserialize, Serialize};

const SECS: Duration = Duration::from_secs(1);
const T: Duration = Duration::from_secs(10);

/// A connection whose peer is a raw socket, for writing malformed streams.
fn raw_pair() -> (Connection, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (Connection::from(a), b)
}

/// Two connections over a socketpair that, unlike a `pipe()`, do not know
/// each other's limits: the receiver's checks do the work.
fn strangers() -> (Connection, Connection) {
    let (a, b) = UnixStream::pair().unwrap();
    (Connection::from(a), Connection::from(b))
}

/// A raw socket connected to a Unix (abstract or path) address, for peers
/// that do not speak mp.
fn raw_connect(address: &Address) -> UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let addr = match address {
        Address::Abstract(name) => std::os::unix::net::SocketAddr::from_abstract_name(name),
        Address::Unix(path) => std::os::unix::net::SocketAddr::from_pathname(path),
        Address::Tcp(_) => panic!("not a Unix address: {address}"),
    };
    UnixStream::connect_addr(&addr.unwrap()).unwrap()
}

fn header(len: u64, nfds: u32) -> Vec<u8> {
    let mut h = len.to_le_bytes().to_vec();
    h.extend_from_slice(&nfds.to_le_bytes());
    h
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    score: u32,
    tags: Vec<String>,
}

mod addresses;
#[cfg(feature = "tokio")]
mod awaited;
mod before_accept;
mod cpython;
mod ends;
mod fast_path;
mod flood;
mod framing;
mod handshakes;
mod listeners;
mod processes;
mod shared_ends;
#[cfg(feature = "tls")]
mod tls;
