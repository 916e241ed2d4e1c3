//! Addresses as Python users write them: strings, `(host, port)` pairs and
//! paths go straight to `Listener::bind` and `Client::connect`; a string
//! that is no address is a typed error, before any socket is made.

use std::thread;

use mp_pipe::{AddressParseError, ToAddress};

use super::*;

/// Accepts one connection on `listener` and echoes one string back.
fn echo_once(listener: Listener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let conn = listener.accept().unwrap();
        let s: String = conn.recv().unwrap();
        conn.send(&s).unwrap();
    })
}

fn round_trip(conn: &Connection) -> String {
    conn.send("ping").unwrap();
    conn.recv().unwrap()
}

#[test]
fn bind_and_connect_take_host_port_strings() {
    let _d = deadline(T);
    let listener = Listener::bind("127.0.0.1:0", Some(b"key")).unwrap();
    let port = match listener.address() {
        Address::Tcp(addr) => addr.port(),
        other => panic!("not TCP: {other}"),
    };
    assert_ne!(port, 0, "port 0 became the real port");
    let server = echo_once(listener);
    let conn = Client::connect(format!("127.0.0.1:{port}").as_str(), Some(b"key")).unwrap();
    assert_eq!(round_trip(&conn), "ping");
    server.join().unwrap();
}

#[test]
fn host_port_pairs_work_like_python_tuples() {
    let _d = deadline(T);
    let listener = Listener::bind(("127.0.0.1", 0), Some(b"key")).unwrap();
    let port = match listener.address() {
        Address::Tcp(addr) => addr.port(),
        other => panic!("not TCP: {other}"),
    };
    let server = echo_once(listener);
    let conn = Client::connect(("127.0.0.1", port), Some(b"key")).unwrap();
    assert_eq!(round_trip(&conn), "ping");
    server.join().unwrap();
}

#[test]
fn a_path_string_is_a_unix_socket() {
    let _d = deadline(T);
    let dir = std::env::temp_dir().join(format!("mp-addr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let text = path.to_str().unwrap().to_owned();
    let listener = Listener::bind(text.as_str(), None).unwrap();
    assert_eq!(listener.address(), &Address::Unix(path.clone()));
    let server = echo_once(listener);
    // A String, and the Address the listener reports, both connect.
    let conn = Client::connect(text.clone(), None).unwrap();
    assert_eq!(round_trip(&conn), "ping");
    server.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_address_the_listener_reports_still_connects() {
    let _d = deadline(T);
    let listener = Listener::bind(Address::unique(), Some(b"key")).unwrap();
    let address = listener.address().clone();
    let server = echo_once(listener);
    let conn = Client::connect(&address, Some(b"key")).unwrap();
    assert_eq!(round_trip(&conn), "ping");
    server.join().unwrap();
}

#[test]
fn a_string_that_is_no_address_is_a_typed_error() {
    let _d = deadline(T);
    let expected: AddressParseError = "no port here".to_address().unwrap_err();
    match Listener::bind("no port here", Some(b"key")) {
        Err(Error::Address(e)) => assert_eq!(e, expected),
        other => panic!("expected Error::Address, got {other:?}"),
    }
    match Client::connect("no port here", Some(b"key")) {
        Err(Error::Address(e)) => {
            assert!(e.to_string().contains("no port here"), "{e}");
        }
        other => panic!("expected Error::Address, got {other:?}"),
    }
    // The builder keeps the error for `bind`/`connect_now`, not a panic.
    assert!(matches!(
        Listener::builder("@").authkey(b"k").bind(),
        Err(Error::Address(_))
    ));
    assert!(matches!(
        Client::builder("").connect_now(),
        Err(Error::Address(_))
    ));
}
