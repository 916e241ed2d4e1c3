//! Peers that never authenticate (silent, or sending garbage) delay no one
//! who does; a peer that announces a huge message costs only what it sent.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

const KEY: &[u8] = b"flood key";

/// Issue 13's "done when": 100 silent and 100 garbage-sending TCP peers
/// held open against a listener while a good client connects and does
/// 1000 round trips (each on a new authenticated connection): none takes
/// more than 50 ms.
#[test]
fn silent_and_garbage_peers_delay_no_authenticated_client() {
    let _d = deadline(300 * SECS);
    let listener = Listener::bind(Address::localhost(0), Some(KEY)).unwrap();
    let address = listener.address().clone();
    let Address::Tcp(addr) = address else {
        unreachable!()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let server = std::thread::spawn({
        let stop = stop.clone();
        move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(conn) = listener.accept_timeout(Duration::from_millis(100)) {
                    if let Ok(n) = conn.recv_timeout::<u32>(T) {
                        let _ = conn.send(&(n + 1));
                    }
                }
            }
        }
    });
    let flood = mp_testkit::Flood::start(addr, 100, 100);
    let round_trip = |i: u32| {
        let start = Instant::now();
        let conn = Client::builder(address.clone())
            .authkey(KEY)
            .timeout(T)
            .connect_now()
            .unwrap();
        conn.send(&i).unwrap();
        assert_eq!(conn.recv_timeout::<u32>(T).unwrap(), i + 1);
        start.elapsed()
    };
    let slow = mp_testkit::slow_twice(1000, Duration::from_millis(50), round_trip);
    flood.stop();
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert!(
        slow.is_empty(),
        "round trips over 50 ms, twice in a row: {slow:?}"
    );
}

/// How much address space this process has mapped, in bytes.
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// In a child process of its own (so nothing else allocates): receives
/// part of a message that announces `announced` bytes, and returns how much
/// the address space grew.
fn receive_part(conn: Connection, ready: Connection) -> u64 {
    let before = vm_size();
    ready.send(&()).unwrap();
    // The header and 1 MiB arrive; the rest never does.
    assert!(matches!(
        conn.recv_bytes_timeout(Duration::from_millis(500)),
        Err(Error::Timeout)
    ));
    vm_size().saturating_sub(before)
}

/// A peer that announces a message just under the limit (1 GiB) and sends
/// 1 MiB of it costs the receiver about what arrived, not the announced
/// size (it used to reserve the whole message up front).
#[test]
fn a_huge_announced_message_costs_only_what_arrived() {
    let _d = deadline(60 * SECS);
    let (mut raw, theirs) = UnixStream::pair().unwrap();
    let conn = Connection::from(theirs);
    conn.set_max_message_size(1 << 30);
    let (ready_r, ready_w) = pipe().unwrap();
    let child = mp_process::spawn(receive_part, (conn, ready_w)).unwrap();
    ready_r.recv_timeout::<()>(T).unwrap();
    raw.write_all(&header((1 << 30) - 1, 0)).unwrap();
    raw.write_all(&vec![3u8; 1 << 20]).unwrap();
    let grew = child.join().unwrap();
    assert!(grew < 64 << 20, "the address space grew by {grew} bytes");
}
