//! The handshake: a client that checks the server (fake servers on raw
//! sockets), the seam for other handshakes, and limits exchanged.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::*;

/// Reads one mp frame from a raw socket.
fn read_frame(raw: &mut UnixStream) -> Vec<u8> {
    let mut head = [0u8; 12];
    raw.read_exact(&mut head).unwrap();
    let len = u64::from_le_bytes(head[..8].try_into().unwrap());
    let mut body = vec![0u8; len as usize];
    raw.read_exact(&mut body).unwrap();
    body
}

fn write_frame(raw: &mut UnixStream, body: &[u8]) {
    raw.write_all(&header(body.len() as u64, 0)).unwrap();
    raw.write_all(body).unwrap();
}

fn hmac(key: &[u8], label: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(label);
    mac.update(nonce);
    mac.finalize().into_bytes().to_vec()
}

/// A fake server that knows the key well enough to pass the client's
/// first check (it sends a proper challenge and accepts the answer), then
/// answers the client's challenge with `answer(client's digest)`. Returns
/// what the client got and the client's verdict as the server saw it.
fn fake_server(answer: fn(&[u8]) -> Vec<u8>) -> (Result<Connection, Error>, Vec<u8>) {
    let path = std::env::temp_dir().join(format!(
        "mp-test-{}-fake-{:x}.sock",
        std::process::id(),
        u64::from_le_bytes(mp_pipe::random_authkey()[..8].try_into().unwrap())
    ));
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut raw, _) = listener.accept().unwrap();
        raw.set_read_timeout(Some(T)).unwrap();
        let hello = read_frame(&mut raw);
        assert!(hello.starts_with(b"#MP-HELLO-2#"), "{hello:?}");
        let nonce = [7u8; 32];
        let challenge = [&b"#MP-CHALLENGE-2#"[..], &u64::MAX.to_le_bytes(), &nonce].concat();
        write_frame(&mut raw, &challenge);
        let digest = read_frame(&mut raw);
        write_frame(&mut raw, b"#WELCOME#");
        let their_challenge = read_frame(&mut raw);
        assert!(their_challenge.starts_with(b"#MP-CHALLENGE-2#"));
        write_frame(&mut raw, &answer(&digest));
        read_frame(&mut raw)
    });
    let client = Client::builder(Address::Unix(path.clone()))
        .authkey(b"the key")
        .timeout(T)
        .connect_now();
    let verdict = server.join().unwrap();
    let _ = std::fs::remove_file(&path);
    (client, verdict)
}

/// Every wrong-key test fails on the server's check first; these fake
/// servers pass it and fail only the client's own check of the server.
#[test]
fn a_client_refuses_a_server_that_answers_its_challenge_wrongly() {
    let _d = deadline(30 * SECS);
    let (client, verdict) = fake_server(|_| vec![0x5a; 32]);
    assert!(
        matches!(client, Err(Error::Authentication(_))),
        "{client:?}"
    );
    assert_eq!(verdict, b"#FAILURE#");
}

#[test]
fn a_client_refuses_a_server_that_reflects_its_own_digest() {
    let _d = deadline(30 * SECS);
    let (client, verdict) = fake_server(|digest| digest.to_vec());
    assert!(
        matches!(client, Err(Error::Authentication(_))),
        "{client:?}"
    );
    assert_eq!(verdict, b"#FAILURE#");
}

/// The fake server's machinery is right: answering with the true digest
/// for the client's nonce gets it in (so the two tests above fail for the
/// reason they name).
#[test]
fn a_fake_server_that_holds_the_key_gets_the_client_in() {
    let _d = deadline(30 * SECS);
    let path = std::env::temp_dir().join(format!("mp-test-{}-fake-ok.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut raw, _) = listener.accept().unwrap();
        read_frame(&mut raw);
        let challenge = [&b"#MP-CHALLENGE-2#"[..], &1000u64.to_le_bytes(), &[1u8; 32]].concat();
        write_frame(&mut raw, &challenge);
        assert_eq!(
            read_frame(&mut raw),
            hmac(b"the key", b"mp client", &[1u8; 32])
        );
        write_frame(&mut raw, b"#WELCOME#");
        let nonce = read_frame(&mut raw)[b"#MP-CHALLENGE-2#".len()..].to_vec();
        write_frame(&mut raw, &hmac(b"the key", b"mp server", &nonce));
        read_frame(&mut raw)
    });
    let conn = Client::builder(Address::Unix(path.clone()))
        .authkey(b"the key")
        .timeout(T)
        .connect_now()
        .unwrap();
    assert_eq!(server.join().unwrap(), b"#WELCOME#");
    assert_eq!(conn.peer_max_message_size(), Some(1000));
    let _ = std::fs::remove_file(&path);
}

/// A challenge whose nonce is not 32 bytes would make the answer a
/// constant (replayable): refused.
#[test]
fn a_challenge_with_a_short_nonce_is_refused() {
    let _d = deadline(30 * SECS);
    let path = std::env::temp_dir().join(format!("mp-test-{}-fake-nonce.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut raw, _) = listener.accept().unwrap();
        read_frame(&mut raw);
        write_frame(
            &mut raw,
            &[&b"#MP-CHALLENGE-2#"[..], &0u64.to_le_bytes()].concat(),
        );
        let mut rest = Vec::new();
        let _ = raw.read_to_end(&mut rest);
        rest
    });
    let client = Client::builder(Address::Unix(path.clone()))
        .authkey(b"k")
        .timeout(T)
        .connect_now();
    assert!(
        matches!(client, Err(Error::Authentication(_))),
        "{client:?}"
    );
    assert!(server.join().unwrap().is_empty(), "no digest was sent");
    let _ = std::fs::remove_file(&path);
}

/// `NoHandshake` hands the connection over at once (Python's
/// `authkey=None`), and on TCP it needs `allow_insecure_tcp`.
#[test]
fn no_handshake_connects_at_once_and_is_insecure_on_tcp() {
    let _d = deadline(30 * SECS);
    let listener = Listener::builder(Address::unique())
        .handshake(mp_pipe::NoHandshake)
        .bind()
        .unwrap();
    let conn = Client::builder(listener.address().clone())
        .handshake(mp_pipe::NoHandshake)
        .connect_now()
        .unwrap();
    conn.send_bytes(b"first").unwrap();
    let server = listener.accept_timeout(T).unwrap();
    assert_eq!(server.recv_bytes_timeout(T).unwrap(), b"first");
    assert_eq!(server.peer_max_message_size(), None);
    assert!(matches!(
        Listener::builder(Address::localhost(0))
            .handshake(mp_pipe::NoHandshake)
            .bind(),
        Err(Error::InsecureTcp)
    ));
    assert!(matches!(
        Listener::builder(Address::unique())
            .authkey(b"k")
            .handshake(mp_pipe::NoHandshake)
            .bind(),
        Err(Error::Authentication(_))
    ));
}

/// The other end of a pipe knows this end's limit: a send it would refuse
/// fails at once, writes nothing, and the pipe goes on.
#[test]
fn a_pipe_refuses_a_send_the_other_end_would_refuse() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    b.set_max_message_size(1000);
    assert_eq!(a.peer_max_message_size(), Some(1000));
    assert!(matches!(
        a.send_bytes(&[0; 1001]),
        Err(Error::MessageTooLarge {
            len: 1001,
            limit: 1000
        })
    ));
    assert!(matches!(
        a.send(&vec![0u8; 2000]),
        Err(Error::MessageTooLarge { limit: 1000, .. })
    ));
    assert!(!b.poll(Duration::ZERO).unwrap(), "nothing was written");
    a.send_bytes(&[1; 1000]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), [1; 1000]);
    // A simplex pipe too.
    let (r, w) = pipe_simplex().unwrap();
    r.set_max_message_size(4);
    assert!(matches!(
        w.send_bytes(b"12345"),
        Err(Error::MessageTooLarge { .. })
    ));
    w.send_bytes(b"1234").unwrap();
    assert_eq!(r.recv_bytes().unwrap(), b"1234");
}
