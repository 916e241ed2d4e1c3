//! Listener and Client: addresses, authkeys, timeouts, garbage.

use std::io::Write;
use std::os::fd::AsFd;

use super::*;

fn serve_once(listener: Listener) -> std::thread::JoinHandle<Result<String, Error>> {
    std::thread::spawn(move || {
        let conn = listener.accept_timeout(T)?;
        let msg: String = conn.recv_timeout(T)?;
        conn.send(&format!("got {msg}"))?;
        Ok(msg)
    })
}

fn round_trip(address: Address, server_key: Option<&[u8]>, client_key: Option<&[u8]>) {
    let listener = Listener::bind(address, server_key).unwrap();
    let address = listener.address().clone();
    let server = serve_once(listener);
    let conn = Client::builder(address).timeout(T);
    let conn = match client_key {
        Some(k) => conn.authkey(k),
        None => conn,
    }
    .connect_now()
    .unwrap();
    conn.send(&"hi").unwrap();
    assert_eq!(conn.recv_timeout::<String>(T).unwrap(), "got hi");
    assert_eq!(server.join().unwrap().unwrap(), "hi");
}

fn temp_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mp-test-{}-{tag}.sock", std::process::id()))
}

#[test]
fn unix_path_abstract_and_tcp_listeners_work_with_a_key() {
    let _d = deadline(30 * SECS);
    let path = temp_path("ok");
    round_trip(Address::Unix(path.clone()), Some(b"k1"), Some(b"k1"));
    assert!(
        !path.exists(),
        "the socket file is removed when the listener closes"
    );
    round_trip(Address::unique(), Some(b"k2"), Some(b"k2"));
    round_trip(Address::unique(), None, None);
    round_trip(Address::localhost(0), Some(b"k3"), Some(b"k3"));
}

/// Runs `bad` (a client that must be refused) against `listener`, then a
/// client with `good_key`; returns what `bad` got, after checking that the
/// listener refused it, kept listening, and served the good client.
fn refused_then_served(
    listener: Listener,
    good_key: Option<&'static [u8]>,
    bad: impl FnOnce(Address) -> Result<Connection, Error>,
) -> Error {
    let address = listener.address().clone();
    let server = std::thread::spawn(move || {
        let conn = listener.accept_timeout(T);
        let got = conn.and_then(|c| c.recv_timeout::<u32>(T));
        (got, listener.stats().clone())
    });
    let error = bad(address.clone()).expect_err("the bad client got in");
    let good = Client::builder(address).timeout(T);
    let good = match good_key {
        Some(key) => good.authkey(key),
        None => good,
    };
    good.connect_now().unwrap().send(&5u32).unwrap();
    let (got, stats) = server.join().unwrap();
    assert_eq!(got.unwrap(), 5);
    assert_eq!((stats.refused(), stats.accepted()), (1, 1), "{stats:?}");
    error
}

fn wrong_key(address: Address) {
    let listener = Listener::bind(address, Some(b"right")).unwrap();
    let error = refused_then_served(listener, Some(b"right"), |address| {
        Client::builder(address)
            .authkey(b"wrong")
            .timeout(T)
            .connect_now()
    });
    assert!(matches!(error, Error::Authentication(_)), "{error:?}");
}

#[test]
fn a_wrong_key_fails_on_both_sides_over_tcp_and_unix_and_the_listener_goes_on() {
    let _d = deadline(30 * SECS);
    wrong_key(Address::localhost(0));
    wrong_key(Address::unique());
    wrong_key(Address::Unix(temp_path("wrong")));
}

/// A client without a key connects at once (as Python's), and learns on
/// its first receive that the listener wants a key; the listener refuses it.
#[test]
fn a_missing_key_fails_on_both_sides() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
    let error = refused_then_served(listener, Some(b"k"), |address| {
        let conn = Client::builder(address).timeout(T).connect_now()?;
        conn.recv_timeout::<u32>(T)?;
        Ok(conn)
    });
    assert!(matches!(error, Error::Authentication(_)), "{error:?}");
    // And a client with a key refuses a server without one.
    let listener = Listener::bind(Address::unique(), None).unwrap();
    let address = listener.address().clone();
    let server = std::thread::spawn(move || listener.accept_timeout(T).map(drop));
    let client = Client::builder(address)
        .authkey(b"k")
        .timeout(T)
        .connect_now();
    assert!(
        matches!(client, Err(Error::Authentication(_))),
        "{client:?}"
    );
    server.join().unwrap().unwrap();
}

#[test]
fn an_empty_authkey_is_refused_everywhere_with_the_same_error() {
    let _d = deadline(30 * SECS);
    let same = |r: Result<(), Error>| match r {
        Err(Error::Authentication(why)) => why,
        other => panic!("expected an authentication error, got {other:?}"),
    };
    let listeners = [Address::localhost(0), Address::unique()]
        .map(|a| same(Listener::bind(a, Some(b"")).map(drop)));
    let live = Listener::bind(Address::unique(), Some(b"k")).unwrap();
    let clients = [Address::localhost(1), live.address().clone()]
        .map(|a| same(Client::connect(&a, Some(b"")).map(drop)));
    assert!(
        listeners
            .iter()
            .chain(&clients)
            .all(|why| why == &listeners[0])
    );
    assert!(listeners[0].contains("empty authkey"), "{}", listeners[0]);
    assert!(matches!(
        mp_pipe::MpHandshake::new(Some(b"")),
        Err(Error::Authentication(_))
    ));
}

#[test]
fn tcp_without_a_key_is_refused_unless_allowed() {
    let _d = deadline(30 * SECS);
    assert!(matches!(
        Listener::bind(Address::localhost(0), None),
        Err(Error::InsecureTcp)
    ));
    assert!(matches!(
        Client::connect(Address::localhost(1), None),
        Err(Error::InsecureTcp)
    ));
    let listener = Listener::builder(Address::localhost(0))
        .allow_insecure_tcp(true)
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let server = serve_once(listener);
    let conn = Client::builder(address)
        .allow_insecure_tcp(true)
        .timeout(T)
        .connect_now()
        .unwrap();
    conn.send(&"plain").unwrap();
    assert_eq!(conn.recv_timeout::<String>(T).unwrap(), "got plain");
    server.join().unwrap().unwrap();
}

#[test]
fn binding_an_address_twice_is_an_error() {
    let _d = deadline(30 * SECS);
    let first = Listener::bind(Address::localhost(0), Some(b"k")).unwrap();
    assert!(Listener::bind(first.address().clone(), Some(b"k")).is_err());
    let abs = Listener::bind(Address::unique(), None).unwrap();
    assert!(Listener::bind(abs.address().clone(), None).is_err());
    let path = temp_path("twice");
    let unix = Listener::bind(Address::Unix(path.clone()), None).unwrap();
    assert!(Listener::bind(Address::Unix(path.clone()), None).is_err());
    drop(unix);
    assert!(!path.exists());
    // After a clean close the address is free again.
    drop(Listener::bind(Address::Unix(path.clone()), None).unwrap());
}

#[test]
fn last_accepted_is_the_peer_address() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::localhost(0), Some(b"k")).unwrap();
    assert_eq!(listener.last_accepted(), None);
    let address = listener.address().clone();
    let client = std::thread::spawn(move || Client::connect(&address, Some(b"k")).unwrap());
    let _conn = listener.accept_timeout(T).unwrap();
    let conn = client.join().unwrap();
    let Some(Address::Tcp(peer)) = listener.last_accepted() else {
        panic!("no TCP peer")
    };
    assert!(peer.ip().is_loopback());
    assert_ne!(peer.port(), 0);
    drop(conn);
}

#[test]
fn accept_and_connect_time_out() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
    let start = Instant::now();
    assert!(matches!(
        listener.accept_timeout(Duration::from_millis(100)),
        Err(Error::Timeout)
    ));
    assert!(start.elapsed() >= Duration::from_millis(100));
    // A peer that connects and never speaks cannot hold accept past its deadline.
    let silent = raw_connect(listener.address());
    assert!(listener.accept_timeout(Duration::from_millis(200)).is_err());
    drop(silent);
    // A client whose server never answers gives up.
    let mute = Listener::builder(Address::unique()).bind().unwrap();
    let start = Instant::now();
    let r = Client::builder(mute.address().clone())
        .authkey(b"x")
        .timeout(Duration::from_millis(150))
        .connect_now();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[test]
fn garbage_before_authentication_is_refused_without_harm() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
    let error = refused_then_served(listener, Some(b"k"), |address| {
        let mut garbage = raw_connect(&address);
        garbage.write_all(&header(1 << 40, 0)).unwrap();
        garbage.write_all(&[0xAB; 64]).unwrap();
        // The listener hangs up on it.
        let mut rest = Vec::new();
        garbage.set_read_timeout(Some(T)).unwrap();
        std::io::Read::read_to_end(&mut garbage, &mut rest).unwrap();
        Err(Error::Protocol(format!(
            "hung up after {} bytes",
            rest.len()
        )))
    });
    assert!(matches!(error, Error::Protocol(_)));
}

#[test]
fn closing_a_listener_stops_accepting() {
    let _d = deadline(10 * SECS);
    let mut listener = Listener::bind(Address::unique(), None).unwrap();
    listener.close();
    listener.close();
    assert!(matches!(
        listener.accept_timeout(Duration::ZERO),
        Err(Error::Closed)
    ));
}

/// The listener's limit reaches the client in the handshake: a larger send
/// fails there at once and writes nothing; a client that ignores it (raw
/// bytes) has its message skipped by the listener.
#[test]
fn connections_from_a_listener_have_a_size_limit_both_ends_know() {
    let _d = deadline(30 * SECS);
    let listener = Listener::builder(Address::unique())
        .max_message_size(64)
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let client = std::thread::spawn(move || {
        let conn = Client::builder(address)
            .max_message_size(100)
            .connect_now()
            .unwrap();
        // Without a key, connect returned before the listener answered.
        assert!(mp_testkit::eventually(T, || {
            conn.peer_max_message_size() == Some(64)
        }));
        let refused = conn.send_bytes(&[0; 65]);
        assert!(
            matches!(refused, Err(Error::MessageTooLarge { len: 65, limit: 64 })),
            "{refused:?}"
        );
        let value = conn.send(&vec![0u8; 200]);
        assert!(matches!(
            value,
            Err(Error::MessageTooLarge { limit: 64, .. })
        ));
        // Written by hand, past the check: the listener skips it.
        let mut raw = UnixStream::from(conn.as_fd().try_clone_to_owned().unwrap());
        raw.write_all(&header(66, 0)).unwrap();
        raw.write_all(&[9; 66]).unwrap();
        conn.send_bytes(&[1; 64]).unwrap();
        conn
    });
    let conn = listener.accept_timeout(T).unwrap();
    assert_eq!(conn.peer_max_message_size(), Some(100));
    assert!(matches!(
        conn.recv_bytes_timeout(T),
        Err(Error::MessageTooLarge { len: 66, limit: 64 })
    ));
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), [1; 64]);
    drop(client.join().unwrap());
    assert_eq!(mp_pipe::DEFAULT_MAX_MESSAGE_SIZE, 1 << 30);
}

#[test]
fn tcp_connections_cannot_carry_handles() {
    let _d = deadline(30 * SECS);
    let listener = Listener::bind(Address::localhost(0), Some(b"k")).unwrap();
    let address = listener.address().clone();
    let client = std::thread::spawn(move || Client::connect(&address, Some(b"k")).unwrap());
    let _server = listener.accept_timeout(T).unwrap();
    let conn = client.join().unwrap();
    let (x, _y) = pipe().unwrap();
    assert!(matches!(conn.send(&x), Err(Error::HandlesNotSupported)));
    conn.send(&1u8).unwrap();
}
