//! Mutual HMAC-SHA256 challenge/response, run on every new connection of a
//! `Listener` that has an authkey (Python's `deliver_challenge` /
//! `answer_challenge`, both ways).
//!
//! The listener speaks first: either `NOAUTH`, or `CHALLENGE ++ nonce`. The
//! client answers `HMAC(key, "mp client" ++ nonce)`; the listener checks it
//! in constant time and replies `WELCOME` or `FAILURE`. Then the roles swap
//! with the label `"mp server"`, so a client also knows it reached a server
//! that holds the key. The labels keep one side's answer from being replayed
//! as the other's. Handshake frames are limited to [`HANDSHAKE_MAX`] bytes.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::connection::Connection;
use crate::error::{Error, Result};
use mp_internal::Deadline;

const NOAUTH: &[u8] = b"#MP-NOAUTH-1#";
const CHALLENGE: &[u8] = b"#MP-CHALLENGE-1#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
const NONCE_LEN: usize = 32;
const CLIENT: &[u8] = b"mp client";
const SERVER: &[u8] = b"mp server";

/// Frames before authentication are tiny; anything larger is an attack or noise.
pub(crate) const HANDSHAKE_MAX: u64 = 256;

pub(crate) fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("the kernel's random number generator failed: {e}"),
        }
    }
}

/// A fresh random authkey (32 bytes), like `os.urandom(32)` in Python's
/// `current_process().authkey`.
pub fn random_authkey() -> Vec<u8> {
    let mut key = vec![0; 32];
    fill_random(&mut key);
    key
}

/// The listener's side of the handshake.
pub(crate) fn serve(conn: &Connection, key: Option<&[u8]>, deadline: &Deadline) -> Result<()> {
    with_handshake_limit(conn, || match key {
        None => send(conn, NOAUTH, deadline),
        Some(key) => {
            deliver_challenge(conn, key, CLIENT, deadline)?;
            answer_challenge(conn, key, SERVER, deadline)
        }
    })
}

/// The client's side of the handshake.
pub(crate) fn answer(conn: &Connection, key: Option<&[u8]>, deadline: &Deadline) -> Result<()> {
    with_handshake_limit(conn, || {
        let first = recv(conn, deadline)?;
        if first == NOAUTH {
            return match key {
                None => Ok(()),
                Some(_) => Err(Error::Authentication(
                    "the server does not use an authkey, but this client was given one".into(),
                )),
            };
        }
        let Some(nonce) = first.strip_prefix(CHALLENGE) else {
            return Err(Error::Authentication(
                "the peer does not speak the mp handshake".into(),
            ));
        };
        let Some(key) = key else {
            return Err(Error::Authentication(
                "the server requires an authkey".into(),
            ));
        };
        send(conn, &digest(key, CLIENT, nonce), deadline)?;
        expect_welcome(conn, deadline)?;
        deliver_challenge(conn, key, SERVER, deadline)
    })
}

fn deliver_challenge(
    conn: &Connection,
    key: &[u8],
    label: &[u8],
    deadline: &Deadline,
) -> Result<()> {
    let mut message = CHALLENGE.to_vec();
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    message.extend_from_slice(&nonce);
    send(conn, &message, deadline)?;
    let response = recv(conn, deadline)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.update(&nonce);
    if mac.verify_slice(&response).is_ok() {
        send(conn, WELCOME, deadline)
    } else {
        // The peer learns it failed; a send error changes nothing here.
        let _ = send(conn, FAILURE, deadline);
        Err(Error::Authentication(
            "the peer's digest was wrong (different authkey)".into(),
        ))
    }
}

fn answer_challenge(
    conn: &Connection,
    key: &[u8],
    label: &[u8],
    deadline: &Deadline,
) -> Result<()> {
    let message = recv(conn, deadline)?;
    let Some(nonce) = message.strip_prefix(CHALLENGE) else {
        return Err(Error::Authentication("expected a challenge".into()));
    };
    send(conn, &digest(key, label, nonce), deadline)?;
    expect_welcome(conn, deadline)
}

fn expect_welcome(conn: &Connection, deadline: &Deadline) -> Result<()> {
    match recv(conn, deadline)?.as_slice() {
        WELCOME => Ok(()),
        FAILURE => Err(Error::Authentication(
            "the peer rejected our digest (different authkey)".into(),
        )),
        _ => Err(Error::Authentication("unexpected handshake reply".into())),
    }
}

fn digest(key: &[u8], label: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.update(nonce);
    mac.finalize().into_bytes().to_vec()
}

fn send(conn: &Connection, bytes: &[u8], deadline: &Deadline) -> Result<()> {
    match deadline.remaining() {
        None => conn.send_bytes(bytes),
        Some(left) => conn.send_bytes_timeout(bytes, left),
    }
}

/// Receives a handshake frame; the peer hanging up mid-handshake is an
/// authentication failure (it is how a peer with the wrong key leaves).
fn recv(conn: &Connection, deadline: &Deadline) -> Result<Vec<u8>> {
    let result = match deadline.remaining() {
        None => conn.recv_bytes(),
        Some(left) => conn.recv_bytes_timeout(left),
    };
    result.map_err(|e| match e {
        Error::Eof | Error::Truncated => {
            Error::Authentication("the peer closed the connection during the handshake".into())
        }
        Error::MessageTooLarge { .. } => {
            Error::Authentication("oversized handshake message".into())
        }
        other => other,
    })
}

fn with_handshake_limit<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let limit = conn.max_message_size();
    conn.set_max_message_size(HANDSHAKE_MAX);
    let result = f();
    conn.set_max_message_size(limit);
    result
}
