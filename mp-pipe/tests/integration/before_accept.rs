//! A client without an authkey connects before the listener accepts, as
//! Python's `Client(address)` does; one with a key still waits for the
//! whole handshake.

use super::*;

fn connect_send_and_leave(address: Address, message: String) {
    let conn = Client::builder(address).timeout(T).connect_now().unwrap();
    conn.send(&message).unwrap();
}

/// CPython's `Client(address)` returns as soon as the connection is made:
/// a child connects, sends and exits before the listener calls `accept`,
/// and the message is still there to receive.
#[test]
fn a_client_without_a_key_connects_sends_and_exits_before_accept() {
    let _d = deadline(60 * SECS);
    for method in StartMethod::ALL {
        let listener = Listener::bind(Address::unique(), None).unwrap();
        let message = format!("sent before accept under {method}");
        let mut child = Process::new(
            connect_send_and_leave,
            (listener.address().clone(), message.clone()),
        )
        .start_method(method);
        child.start().unwrap();
        // Nobody is in accept: the child's connect must not wait for it.
        assert_eq!(child.join_timeout(T).unwrap(), Some(0), "{method}");
        let server = listener.accept_timeout(T).unwrap();
        assert_eq!(server.recv_timeout::<String>(T).unwrap(), message);
        assert!(matches!(server.recv_timeout::<String>(T), Err(Error::Eof)));
    }
}

/// With a key, `connect` still returns only after both ends proved they
/// hold it: before `accept` it times out.
#[test]
fn a_client_with_a_key_still_waits_for_the_handshake() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
    let early = Client::builder(listener.address().clone())
        .authkey(b"k")
        .timeout(Duration::from_millis(200))
        .connect_now();
    assert!(matches!(early, Err(Error::Timeout)), "{early:?}");
    let address = listener.address().clone();
    let server = std::thread::spawn(move || listener.accept_timeout(T)?.recv_timeout::<u8>(T));
    let conn = Client::builder(address)
        .authkey(b"k")
        .timeout(T)
        .connect_now()
        .unwrap();
    conn.send(&3u8).unwrap();
    assert_eq!(server.join().unwrap().unwrap(), 3);
}

/// The listener's answer alone is not a message: `poll` and `wait` do not
/// report the connection ready for it, and the first real message follows.
#[test]
fn the_listeners_answer_is_not_a_message() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), None).unwrap();
    let waited = Client::connect(listener.address(), None).unwrap();
    let polled = Client::connect(listener.address(), None).unwrap();
    // Once accepted, the listener's answers are on their way to the clients.
    let waited_server = listener.accept_timeout(T).unwrap();
    let polled_server = listener.accept_timeout(T).unwrap();
    let ready = wait(&[&waited], Some(Duration::from_millis(100))).unwrap();
    assert!(ready.is_empty(), "{ready:?}");
    assert!(!polled.poll(Duration::from_millis(100)).unwrap());
    waited_server.send(&7u8).unwrap();
    polled_server.send(&8u8).unwrap();
    assert_eq!(wait(&[&waited], Some(T)).unwrap(), [0]);
    assert!(polled.poll(T).unwrap());
    assert_eq!(waited.recv_timeout::<u8>(T).unwrap(), 7);
    assert_eq!(polled.recv_timeout::<u8>(T).unwrap(), 8);
    assert_eq!(
        waited.peer_max_message_size(),
        Some(mp_pipe::DEFAULT_MAX_MESSAGE_SIZE)
    );
}

/// A listener that closes without accepting: the client's receive sees end
/// of file, not a hang.
#[test]
fn a_listener_closed_before_accept_is_eof_for_the_client() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), None).unwrap();
    let conn = Client::connect(listener.address(), None).unwrap();
    drop(listener);
    let got = conn.recv_timeout::<u8>(T);
    assert!(matches!(got, Err(Error::Eof)), "{got:?}");
}

/// A connection whose handshake still waits for the listener cannot travel
/// to another process (the rest of the handshake would be lost): a clear
/// error, and after a receive it travels.
#[test]
fn a_connection_mid_handshake_does_not_travel() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), None).unwrap();
    let conn = Client::connect(listener.address(), None).unwrap();
    let (a, b) = pipe().unwrap();
    assert!(matches!(a.send(&conn), Err(Error::Encode(_))));
    let server = listener.accept_timeout(T).unwrap();
    server.send(&1u8).unwrap();
    assert_eq!(conn.recv_timeout::<u8>(T).unwrap(), 1);
    a.send(&conn).unwrap();
    let travelled: Connection = b.recv_timeout(T).unwrap();
    travelled.send(&2u8).unwrap();
    assert_eq!(server.recv_timeout::<u8>(T).unwrap(), 2);
}

/// `abandon` (a forked child letting go of its parent's objects): the
/// peers see end of file as after `close`, and a listener's socket file,
/// its parent's, stays.
#[test]
fn abandoned_connections_and_listeners_close_for_their_peers() {
    let _d = deadline(30 * SECS);
    // Both ends of a pipe (shared memory) and of a socket connection.
    let (a, b) = pipe().unwrap();
    a.abandon();
    assert!(matches!(b.recv_timeout::<u8>(T), Err(Error::Eof)));
    let listener = Listener::bind(Address::unique(), None).unwrap();
    let client = Client::connect(listener.address(), None).unwrap();
    let served = listener.accept_timeout(T).unwrap();
    served.abandon();
    assert!(matches!(client.recv_timeout::<u8>(T), Err(Error::Eof)));

    let path = std::env::temp_dir().join(format!("mp-test-{}-abandon.sock", std::process::id()));
    let listener = Listener::bind(Address::Unix(path.clone()), None).unwrap();
    // One peer waiting to be accepted, whose handshake the listener holds.
    let waiting = Client::connect(listener.address(), None).unwrap();
    listener.abandon();
    assert!(matches!(waiting.recv_timeout::<u8>(T), Err(Error::Eof)));
    assert!(path.exists(), "the socket file is the parent's: it stays");
    let refused = std::os::unix::net::UnixStream::connect(&path);
    assert_eq!(
        refused.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "nothing listens there any more"
    );
    std::fs::remove_file(&path).unwrap();
}
