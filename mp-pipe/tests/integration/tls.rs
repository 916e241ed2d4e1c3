//! TLS (the `tls` feature): encrypted, certificate-checked connections with
//! the authkey handshake inside; mismatches are clear errors, not hangs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use mp_pipe::tls::{TlsClient, TlsServer};

use super::*;

use mp_testkit::TestPki as Pki;

fn pki() -> Pki {
    Pki::new()
}

fn tls_listener(pki: &Pki) -> Listener {
    Listener::builder(Address::localhost(0))
        .authkey(b"key")
        .tls(TlsServer::from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).unwrap())
        .bind()
        .unwrap()
}

fn tls_client(address: Address, pki: &Pki) -> Client {
    named_tls_client(address, pki, None)
}

/// A TLS client that expects `name` in the certificate (default: the IP).
fn named_tls_client(address: Address, pki: &Pki, name: Option<&str>) -> Client {
    let mut tls = TlsClient::from_ca_pem(pki.ca.as_bytes()).unwrap();
    if let Some(name) = name {
        tls = tls.server_name(name);
    }
    Client::builder(address).authkey(b"key").timeout(T).tls(tls)
}

/// A TCP relay between a client and `to` that records every byte it
/// passes on, both ways (what anyone on the path sees).
fn wiretap(to: std::net::SocketAddr) -> (Address, Arc<Mutex<Vec<u8>>>) {
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = Address::Tcp(relay.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap = seen.clone();
    std::thread::spawn(move || {
        let (client, _) = relay.accept().unwrap();
        let server = TcpStream::connect(to).unwrap();
        let pump = |mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Vec<u8>>>| {
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = from.read(&mut buf) {
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        let a = pump(
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            tap.clone(),
        );
        let b = pump(server, client, tap);
        let _ = (a.join(), b.join());
    });
    (address, seen)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Values and a 1 MiB message cross both ways; a wiretap sees neither the
/// messages nor the authkey handshake, which it does see without TLS.
#[test]
fn tls_encrypts_the_stream_and_the_handshake_runs_inside() {
    let _d = deadline(60 * SECS);
    let pki = pki();
    for tls in [true, false] {
        let listener = if tls {
            tls_listener(&pki)
        } else {
            Listener::bind(Address::localhost(0), Some(b"key")).unwrap()
        };
        let Address::Tcp(to) = listener.address().clone() else {
            unreachable!()
        };
        let (tapped, seen) = wiretap(to);
        let server = std::thread::spawn(move || {
            let conn = listener.accept_timeout(T).unwrap();
            let secret: String = conn.recv_timeout(T).unwrap();
            let big = conn.recv_bytes_timeout(T).unwrap();
            conn.send_bytes(&big).unwrap();
            conn.send(&format!("{secret}, back")).unwrap();
            secret
        });
        let client = if tls {
            named_tls_client(tapped, &pki, Some("localhost"))
        } else {
            Client::builder(tapped).authkey(b"key").timeout(T)
        };
        let conn = client.connect_now().unwrap();
        conn.send("attack at dawn").unwrap();
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        conn.send_bytes(&big).unwrap();
        assert_eq!(conn.recv_bytes_timeout(T).unwrap(), big);
        assert_eq!(
            conn.recv_timeout::<String>(T).unwrap(),
            "attack at dawn, back"
        );
        assert_eq!(server.join().unwrap(), "attack at dawn");
        if tls {
            let (x, _y) = pipe().unwrap();
            assert!(matches!(conn.send(&x), Err(Error::HandlesNotSupported)));
            assert!(
                mp_handle::encode(&conn).is_err(),
                "a TLS connection stays here"
            );
        }
        drop(conn);
        let seen = seen.lock().unwrap().clone();
        for needle in [&b"attack at dawn"[..], b"#MP-HELLO-2#", b"#WELCOME#"] {
            assert_eq!(contains(&seen, needle), !tls, "TLS {tls}: {needle:?}");
        }
    }
}

#[test]
fn certificates_and_keys_come_from_files() {
    let _d = deadline(60 * SECS);
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("mp-test-{}-tls", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, pem) in [
        ("ca.crt", &pki.ca),
        ("server.crt", &pki.cert),
        ("server.key", &pki.key),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    let listener = Listener::builder(Address::localhost(0))
        .authkey(b"key")
        .tls(TlsServer::from_pem_files(dir.join("server.crt"), dir.join("server.key")).unwrap())
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let server =
        std::thread::spawn(move || listener.accept_timeout(T).unwrap().recv_timeout::<u8>(T));
    let conn = Client::builder(address)
        .authkey(b"key")
        .tls(TlsClient::from_ca_pem_file(dir.join("ca.crt")).unwrap())
        .timeout(T)
        .connect_now()
        .unwrap();
    conn.send(&42u8).unwrap();
    assert_eq!(server.join().unwrap().unwrap(), 42);
    assert!(matches!(
        TlsServer::from_pem_files(dir.join("nope.crt"), dir.join("server.key")),
        Err(Error::Tls(_))
    ));
    assert!(matches!(
        TlsClient::from_ca_pem(b"not a pem"),
        Err(Error::Tls(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `client` against `listener` (driven by a thread); returns the
/// client's error, how long it took, and the listener's refusals.
fn refused(listener: Listener, client: Client) -> (Error, Duration, u64) {
    let stats = listener.stats().clone();
    let server = std::thread::spawn(move || listener.accept_timeout(3 * SECS).map(drop));
    let start = Instant::now();
    let error = client.connect_now().expect_err("connected");
    let took = start.elapsed();
    let _ = server.join().unwrap();
    (error, took, stats.refused())
}

/// A TLS client and a plain listener, or the reverse: a clear TLS error
/// on both sides at once, never a hang until the timeout.
#[test]
fn tls_and_plain_ends_refuse_each_other_clearly() {
    let _d = deadline(60 * SECS);
    let pki = pki();
    let plain = Listener::bind(Address::localhost(0), Some(b"key")).unwrap();
    let address = plain.address().clone();
    let (error, took, refusals) = refused(plain, tls_client(address, &pki));
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    assert!(took < 4 * SECS, "{took:?}");
    assert_eq!(refusals, 1);

    let secure = tls_listener(&pki);
    let address = secure.address().clone();
    let plain_client = Client::builder(address).authkey(b"key").timeout(T);
    let (error, took, refusals) = refused(secure, plain_client);
    assert!(
        matches!(&error, Error::Tls(why) if why.contains("requires TLS")),
        "{error:?}"
    );
    assert!(took < 4 * SECS, "{took:?}");
    assert_eq!(refusals, 1);
}

/// A certificate from another CA, or for another name, is refused; the
/// right one with a wrong authkey still fails the authkey check.
#[test]
fn an_untrusted_certificate_or_a_wrong_key_is_refused() {
    let _d = deadline(60 * SECS);
    let (pki, other) = (pki(), pki());
    let listener = tls_listener(&pki);
    let address = listener.address().clone();
    let (error, _, _) = refused(listener, tls_client(address, &other));
    assert!(
        matches!(&error, Error::Tls(why) if why.contains("certificate")),
        "{error:?}"
    );
    let listener = tls_listener(&pki);
    let address = listener.address().clone();
    let (error, _, _) = refused(
        listener,
        named_tls_client(address, &pki, Some("mp.invalid")),
    );
    assert!(matches!(&error, Error::Tls(_)), "{error:?}");
    let listener = tls_listener(&pki);
    let address = listener.address().clone();
    let wrong = Client::builder(address)
        .authkey(b"wrong")
        .timeout(T)
        .tls(TlsClient::from_ca_pem(pki.ca.as_bytes()).unwrap());
    let (error, _, refusals) = refused(listener, wrong);
    assert!(matches!(error, Error::Authentication(_)), "{error:?}");
    assert_eq!(refusals, 1);
    // TLS runs over TCP only.
    assert!(matches!(
        Listener::builder(Address::unique())
            .tls(TlsServer::from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).unwrap())
            .bind(),
        Err(Error::Tls(_))
    ));
}
