//! mp's own handshake: mutual HMAC-SHA256 challenge/response (Python's
//! `deliver_challenge` / `answer_challenge`, both ways), and the exchange of
//! both ends' message size limits.
//!
//! The client speaks first, `HELLO ++ limit`, while the listener sends
//! either `NOAUTH ++ limit`, or `CHALLENGE ++ limit ++ nonce` (the two
//! cross on the wire; limits are little-endian `u64`). With a key, the
//! client answers `HMAC(key, "mp client" ++ nonce)`; the listener checks it
//! in constant time and replies `WELCOME` or `FAILURE`. Then the roles
//! swap with the label `"mp server"`, so a client also knows it reached a
//! server that holds the key. The labels keep one side's answer from being
//! replayed as the other's, and nonces of any other length than 32 bytes
//! are refused (an empty nonce would make the answer a constant).
//!
//! The client speaking first lets a TLS listener notice a plain client at
//! once: it answers `TLS-REQUIRED` in plain framing, which the client turns
//! into [`Error::Tls`].
//!
//! Without a key the client has nothing to prove: it sends its hello and
//! hands the connection over at once ([`Status::Handover`]), as Python's
//! `Client(address, authkey=None)` returns as soon as the connection is
//! made, before the listener accepts. The listener's answer (its limit, or
//! a refusal: it wants a key, or TLS) is read on the client's first
//! receive. A client with a key still waits for the whole exchange.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::handshake::{Handshake, HandshakeSide, Outcome, Status};

const HELLO: &[u8] = b"#MP-HELLO-2#";
const NOAUTH: &[u8] = b"#MP-NOAUTH-2#";
const CHALLENGE: &[u8] = b"#MP-CHALLENGE-2#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// What a TLS listener answers a plain client (in plain framing).
pub(crate) const TLS_REQUIRED: &[u8] = b"#MP-TLS-REQUIRED#";
const NONCE_LEN: usize = 32;
const LIMIT_LEN: usize = 8;
const CLIENT: &[u8] = b"mp client";
const SERVER: &[u8] = b"mp server";

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

/// Refuses an empty authkey: it would "authenticate" anyone, yet look like
/// a key in every setting that shows one.
pub(crate) fn check_key(key: Option<&[u8]>) -> Result<()> {
    match key {
        Some([]) => Err(empty_key()),
        _ => Ok(()),
    }
}

/// The error for an empty authkey, the same everywhere one is given.
pub(crate) fn empty_key() -> Error {
    Error::Authentication(
        "an empty authkey is refused: it proves nothing (give a non-empty key, or none)".into(),
    )
}

/// mp's own handshake, the default of every [`Listener`](crate::Listener)
/// and [`Client`](crate::Client): mutual HMAC-SHA256 challenge/response
/// when there is an authkey, and both ends' limits on message size
/// exchanged either way (see [`Connection::peer_max_message_size`](crate::Connection::peer_max_message_size)).
#[derive(Clone)]
pub struct MpHandshake {
    key: Option<Vec<u8>>,
}

impl MpHandshake {
    /// The handshake with `authkey` (`None`: no authentication, limits
    /// only). An empty key is [`Error::Authentication`].
    pub fn new(authkey: Option<&[u8]>) -> Result<MpHandshake> {
        check_key(authkey)?;
        Ok(MpHandshake {
            key: authkey.map(<[u8]>::to_vec),
        })
    }
}

impl std::fmt::Debug for MpHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpHandshake")
            .field("authenticated", &self.key.is_some())
            .finish()
    }
}

impl Handshake for MpHandshake {
    fn server(&self, max_message_size: u64) -> Box<dyn HandshakeSide> {
        Box::new(ServerSide {
            key: self.key.clone(),
            limit: max_message_size,
            state: ServerState::Start,
            peer_limit: None,
        })
    }

    fn client(&self, max_message_size: u64) -> Box<dyn HandshakeSide> {
        Box::new(ClientSide {
            key: self.key.clone(),
            limit: max_message_size,
            state: ClientState::Start,
            peer_limit: None,
        })
    }

    fn authenticates(&self) -> bool {
        self.key.is_some()
    }
}

enum ServerState {
    Start,
    AwaitHello { nonce: Option<[u8; NONCE_LEN]> },
    AwaitDigest { nonce: [u8; NONCE_LEN] },
    AwaitChallenge,
    AwaitWelcome,
}

struct ServerSide {
    key: Option<Vec<u8>>,
    limit: u64,
    state: ServerState,
    peer_limit: Option<u64>,
}

impl HandshakeSide for ServerSide {
    fn step(&mut self, received: Option<&[u8]>, send: &mut Vec<Vec<u8>>) -> Result<Status> {
        let received = received.unwrap_or_default();
        match std::mem::replace(&mut self.state, ServerState::AwaitWelcome) {
            ServerState::Start => {
                let nonce = self.key.as_ref().map(|_| {
                    let mut nonce = [0u8; NONCE_LEN];
                    fill_random(&mut nonce);
                    nonce
                });
                let message = match nonce {
                    Some(nonce) => [CHALLENGE, &self.limit.to_le_bytes(), &nonce].concat(),
                    None => [NOAUTH, &self.limit.to_le_bytes()[..]].concat(),
                };
                send.push(message);
                self.state = ServerState::AwaitHello { nonce };
            }
            ServerState::AwaitHello { nonce } => {
                self.peer_limit = Some(parse_limit(received, HELLO)?);
                match nonce {
                    None => return Ok(self.done()),
                    Some(nonce) => self.state = ServerState::AwaitDigest { nonce },
                }
            }
            ServerState::AwaitDigest { nonce } => {
                let key = self.key.as_deref().expect("only with a key");
                if verify(key, CLIENT, &nonce, received) {
                    send.push(WELCOME.to_vec());
                    self.state = ServerState::AwaitChallenge;
                } else {
                    send.push(FAILURE.to_vec());
                    return Err(Error::Authentication(
                        "the client's digest was wrong (it does not hold the authkey)".into(),
                    ));
                }
            }
            ServerState::AwaitChallenge => {
                let key = self.key.as_deref().expect("only with a key");
                let nonce = parse_nonce(received)?;
                send.push(digest(key, SERVER, nonce));
                self.state = ServerState::AwaitWelcome;
            }
            ServerState::AwaitWelcome => {
                expect_welcome(received, "the client")?;
                return Ok(self.done());
            }
        }
        Ok(Status::Continue)
    }
}

impl ServerSide {
    fn done(&self) -> Status {
        Status::Done(outcome(self.peer_limit))
    }
}

enum ClientState {
    Start,
    AwaitFirst,
    AwaitVerdict,
    AwaitDigest { nonce: [u8; NONCE_LEN] },
}

struct ClientSide {
    key: Option<Vec<u8>>,
    limit: u64,
    state: ClientState,
    peer_limit: Option<u64>,
}

impl HandshakeSide for ClientSide {
    fn step(&mut self, received: Option<&[u8]>, send: &mut Vec<Vec<u8>>) -> Result<Status> {
        let received = received.unwrap_or_default();
        match std::mem::replace(&mut self.state, ClientState::AwaitVerdict) {
            ClientState::Start => {
                send.push([HELLO, &self.limit.to_le_bytes()[..]].concat());
                self.state = ClientState::AwaitFirst;
                if self.key.is_none() {
                    // Nothing to prove: the connection is the client's now,
                    // as in Python; the listener's answer is read on the
                    // first receive.
                    return Ok(Status::Handover);
                }
            }
            ClientState::AwaitFirst => {
                if received == TLS_REQUIRED {
                    return Err(Error::Tls(
                        "the listener requires TLS and this client does not use it".into(),
                    ));
                }
                if received.starts_with(NOAUTH) {
                    self.peer_limit = Some(parse_limit(received, NOAUTH)?);
                    if self.key.is_some() {
                        return Err(Error::Authentication(
                            "the server does not use an authkey, but this client was given one"
                                .into(),
                        ));
                    }
                    return Ok(Status::Done(outcome(self.peer_limit)));
                }
                let Some(rest) = received.strip_prefix(CHALLENGE) else {
                    return Err(not_mp());
                };
                let Some(key) = &self.key else {
                    return Err(Error::Authentication(
                        "the server requires an authkey".into(),
                    ));
                };
                if rest.len() < LIMIT_LEN {
                    return Err(not_mp());
                }
                let (limit, nonce) = rest.split_at(LIMIT_LEN);
                self.peer_limit = Some(u64::from_le_bytes(limit.try_into().expect("8 bytes")));
                let nonce = check_nonce(nonce)?;
                send.push(digest(key, CLIENT, nonce));
                self.state = ClientState::AwaitVerdict;
            }
            ClientState::AwaitVerdict => {
                expect_welcome(received, "the server")?;
                let mut nonce = [0u8; NONCE_LEN];
                fill_random(&mut nonce);
                send.push([CHALLENGE, &nonce].concat());
                self.state = ClientState::AwaitDigest { nonce };
            }
            ClientState::AwaitDigest { nonce } => {
                let key = self.key.as_deref().expect("only with a key");
                if !verify(key, SERVER, &nonce, received) {
                    send.push(FAILURE.to_vec());
                    return Err(Error::Authentication(
                        "the server's digest was wrong (it does not hold the authkey)".into(),
                    ));
                }
                send.push(WELCOME.to_vec());
                return Ok(Status::Done(outcome(self.peer_limit)));
            }
        }
        Ok(Status::Continue)
    }
}

fn outcome(peer_limit: Option<u64>) -> Outcome {
    match peer_limit {
        Some(limit) if limit != u64::MAX => Outcome::new().peer_max_message_size(limit),
        _ => Outcome::new(),
    }
}

fn not_mp() -> Error {
    Error::Authentication("the peer does not speak the mp handshake".into())
}

fn parse_limit(message: &[u8], prefix: &[u8]) -> Result<u64> {
    let limit = message.strip_prefix(prefix).ok_or_else(not_mp)?;
    let limit: [u8; LIMIT_LEN] = limit.try_into().map_err(|_| not_mp())?;
    Ok(u64::from_le_bytes(limit))
}

fn parse_nonce(message: &[u8]) -> Result<&[u8]> {
    check_nonce(
        message
            .strip_prefix(CHALLENGE)
            .ok_or_else(|| Error::Authentication("expected a challenge".into()))?,
    )
}

fn check_nonce(nonce: &[u8]) -> Result<&[u8]> {
    if nonce.len() == NONCE_LEN {
        Ok(nonce)
    } else {
        Err(Error::Authentication(format!(
            "a challenge with a nonce of {} bytes (expected {NONCE_LEN})",
            nonce.len()
        )))
    }
}

fn expect_welcome(message: &[u8], peer: &str) -> Result<()> {
    match message {
        WELCOME => Ok(()),
        FAILURE => Err(Error::Authentication(format!(
            "{peer} rejected our digest (different authkey)"
        ))),
        _ => Err(Error::Authentication("unexpected handshake reply".into())),
    }
}

fn mac(key: &[u8], label: &[u8], nonce: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.update(nonce);
    mac
}

fn digest(key: &[u8], label: &[u8], nonce: &[u8]) -> Vec<u8> {
    mac(key, label, nonce).finalize().into_bytes().to_vec()
}

/// Checks `answer` in constant time.
fn verify(key: &[u8], label: &[u8], nonce: &[u8], answer: &[u8]) -> bool {
    mac(key, label, nonce).verify_slice(answer).is_ok()
}

/// The handshake a listener or client on `address` runs: the one given,
/// or mp's own with the authkey (giving both is an error: the key would be
/// ignored). TCP with a handshake that authenticates nobody is refused
/// unless `allow_insecure_tcp`.
pub(crate) fn choose_handshake(
    address: &crate::Address,
    authkey: Option<&[u8]>,
    handshake: Option<std::sync::Arc<dyn Handshake>>,
    allow_insecure_tcp: bool,
) -> Result<std::sync::Arc<dyn Handshake>> {
    let handshake = match (handshake, authkey) {
        (Some(_), Some(_)) => {
            return Err(Error::Authentication(
                "both an authkey and a handshake were given: give the key to the handshake".into(),
            ));
        }
        (Some(handshake), None) => handshake,
        (None, key) => std::sync::Arc::new(MpHandshake::new(key)?),
    };
    if address.is_tcp() && !handshake.authenticates() && !allow_insecure_tcp {
        return Err(Error::InsecureTcp);
    }
    Ok(handshake)
}
