//! CPython's authkey handshake (`multiprocessing.connection`'s
//! `deliver_challenge` / `answer_challenge`) as an mp-pipe [`Handshake`],
//! in both forms CPython speaks:
//!
//! - Python 3.11 and older: the challenge is `#CHALLENGE#` + 20 random
//!   bytes; the answer is the raw 16-byte HMAC-MD5 of those 20 bytes.
//! - Python 3.12+: the challenge is `#CHALLENGE#{sha256}` + 40 random bytes;
//!   the answer is `{digest}` + HMAC-digest of everything after
//!   `#CHALLENGE#` (prefix included), with md5, sha256, sha384, sha3_256 or
//!   sha3_384. A 20-byte challenge or a 16-byte answer marks a legacy peer,
//!   which gets (or gives) raw HMAC-MD5, exactly as CPython decides.
//!
//! Then `#WELCOME#` or `#FAILURE#`. The listener delivers its challenge
//! first and then answers the client's; the client does the reverse. Every
//! handshake message is limited to 256 bytes (CPython's `recv_bytes(256)`,
//! mp-pipe's [`HANDSHAKE_MAX_MESSAGE_SIZE`](mp_pipe::HANDSHAKE_MAX_MESSAGE_SIZE));
//! digests are compared in constant time; an empty authkey is refused.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use mp_pipe::{Handshake, HandshakeSide, Outcome, Status};

use crate::error::{Error, Result};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a 3.12+ challenge (after the `{digest}` prefix).
const MODERN_NONCE_LEN: usize = 40;
/// A 3.11 challenge's length; no prefixed message is this short.
const LEGACY_CHALLENGE_LEN: usize = 20;
/// A raw HMAC-MD5 answer's length.
const MD5_LEN: usize = 16;
/// The longest digest name (`sha3_256`, `sha3_384`).
const MAX_DIGEST_NAME: usize = 8;

/// The HMAC digests CPython 3.12+ accepts in a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Digest {
    /// HMAC-MD5 (the only one before 3.12).
    Md5,
    /// HMAC-SHA256 (3.12+'s choice for its own challenges).
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA3-256.
    Sha3_256,
    /// HMAC-SHA3-384.
    Sha3_384,
}

macro_rules! with_hmac {
    ($digest:expr, $key:expr, |$mac:ident| $body:expr) => {
        match $digest {
            Digest::Md5 => with_hmac!(@one md5::Md5, $key, $mac, $body),
            Digest::Sha256 => with_hmac!(@one sha2::Sha256, $key, $mac, $body),
            Digest::Sha384 => with_hmac!(@one sha2::Sha384, $key, $mac, $body),
            Digest::Sha3_256 => with_hmac!(@one sha3::Sha3_256, $key, $mac, $body),
            Digest::Sha3_384 => with_hmac!(@one sha3::Sha3_384, $key, $mac, $body),
        }
    };
    (@one $hash:ty, $key:expr, $mac:ident, $body:expr) => {{
        let mut $mac =
            <Hmac<$hash> as KeyInit>::new_from_slice($key).expect("HMAC takes keys of any length");
        $body
    }};
}

impl Digest {
    /// The name CPython uses (`"sha3_256"`).
    pub fn name(self) -> &'static str {
        match self {
            Digest::Md5 => "md5",
            Digest::Sha256 => "sha256",
            Digest::Sha384 => "sha384",
            Digest::Sha3_256 => "sha3_256",
            Digest::Sha3_384 => "sha3_384",
        }
    }

    fn from_name(name: &[u8]) -> Option<Digest> {
        [
            Digest::Md5,
            Digest::Sha256,
            Digest::Sha384,
            Digest::Sha3_256,
            Digest::Sha3_384,
        ]
        .into_iter()
        .find(|d| d.name().as_bytes() == name)
    }

    /// HMAC-this-digest of `message` under `key`.
    pub fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        with_hmac!(self, key, |mac| {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        })
    }

    /// Whether `tag` is HMAC-this-digest of `message` under `key`, compared
    /// in constant time (a tag of the wrong length is simply wrong).
    pub fn verify(self, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
        with_hmac!(self, key, |mac| {
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        })
    }
}

/// Which challenge to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Python 3.12+'s: `{digest}` + 40 random bytes. Legacy (3.11) peers
    /// answer it with raw HMAC-MD5, which is accepted as CPython does.
    Modern(Digest),
    /// Python 3.11's: 20 random bytes, answered with raw HMAC-MD5.
    Legacy,
}

impl Default for Challenge {
    /// `Modern(Sha256)`, as CPython 3.12+ sends.
    fn default() -> Challenge {
        Challenge::Modern(Digest::Sha256)
    }
}

/// CPython's challenge/response as an mp-pipe [`Handshake`]: plug it into
/// `mp_pipe::ListenerBuilder::handshake` / `mp_pipe::Client::handshake`
/// together with [`Framing::Cpython`](mp_pipe::Framing::Cpython) (the
/// [`Listener`](crate::Listener) and [`Client`](crate::Client) of this
/// crate do both).
#[derive(Clone)]
pub struct CpythonHandshake {
    key: Vec<u8>,
    challenge: Challenge,
}

impl CpythonHandshake {
    /// The handshake with `authkey`, sending the default (3.12+, sha256)
    /// challenge. An empty key is refused.
    pub fn new(authkey: &[u8]) -> Result<CpythonHandshake> {
        if authkey.is_empty() {
            return Err(Error::authentication("an empty authkey is refused"));
        }
        Ok(CpythonHandshake {
            key: authkey.to_vec(),
            challenge: Challenge::default(),
        })
    }

    /// Sends this form of challenge (answers are accepted in every form
    /// CPython accepts, whatever this says).
    pub fn challenge(mut self, challenge: Challenge) -> CpythonHandshake {
        self.challenge = challenge;
        self
    }

    fn side(&self, phases: [Phase; 2]) -> Box<dyn HandshakeSide> {
        Box::new(Side {
            key: self.key.clone(),
            challenge: self.challenge,
            phases,
            next: 0,
            state: State::Start,
        })
    }
}

impl fmt::Debug for CpythonHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpythonHandshake")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Handshake for CpythonHandshake {
    /// `Listener.accept`: deliver a challenge, then answer the client's.
    fn server(&self, _max_message_size: u64) -> Box<dyn HandshakeSide> {
        self.side([Phase::Deliver, Phase::Answer])
    }

    /// `Client`: answer the listener's challenge, then deliver one.
    fn client(&self, _max_message_size: u64) -> Box<dyn HandshakeSide> {
        self.side([Phase::Answer, Phase::Deliver])
    }

    fn authenticates(&self) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// `deliver_challenge`: send one, check the answer, give the verdict.
    Deliver,
    /// `answer_challenge`: answer the peer's, wait for its verdict.
    Answer,
}

enum State {
    Start,
    /// Our challenge (what follows `#CHALLENGE#`) is out.
    AwaitAnswer(Vec<u8>),
    AwaitChallenge,
    AwaitVerdict,
}

/// One side: two phases in order, each a little exchange.
struct Side {
    key: Vec<u8>,
    challenge: Challenge,
    phases: [Phase; 2],
    next: usize,
    state: State,
}

impl Side {
    fn enter_next_phase(&mut self, send: &mut Vec<Vec<u8>>) -> Status {
        let Some(phase) = self.phases.get(self.next) else {
            return Status::Done(Outcome::new());
        };
        self.next += 1;
        self.state = match phase {
            Phase::Deliver => {
                let body = challenge_body(self.challenge);
                send.push([CHALLENGE, &body].concat());
                State::AwaitAnswer(body)
            }
            Phase::Answer => State::AwaitChallenge,
        };
        Status::Continue
    }

    fn advance(&mut self, received: Option<&[u8]>, send: &mut Vec<Vec<u8>>) -> Result<Status> {
        let state = std::mem::replace(&mut self.state, State::Start);
        match (state, received) {
            (State::Start, None) => Ok(self.enter_next_phase(send)),
            (State::AwaitAnswer(body), Some(answer)) => {
                match check_answer(&self.key, &body, answer) {
                    Ok(_) => {
                        send.push(WELCOME.to_vec());
                        Ok(self.enter_next_phase(send))
                    }
                    Err(e) => {
                        send.push(FAILURE.to_vec());
                        Err(e)
                    }
                }
            }
            (State::AwaitChallenge, Some(message)) => {
                send.push(answer_to(&self.key, message)?.0);
                self.state = State::AwaitVerdict;
                Ok(Status::Continue)
            }
            (State::AwaitVerdict, Some(verdict)) if verdict == WELCOME => {
                Ok(self.enter_next_phase(send))
            }
            (State::AwaitVerdict, Some(_)) => {
                Err(Error::authentication("digest sent was rejected"))
            }
            _ => Err(Error::authentication("protocol error: out of turn")),
        }
    }
}

impl HandshakeSide for Side {
    fn step(
        &mut self,
        received: Option<&[u8]>,
        send: &mut Vec<Vec<u8>>,
    ) -> mp_pipe::Result<Status> {
        self.advance(received, send)
            .map_err(|e| mp_pipe::Error::Authentication(e.to_string()))
    }
}

/// Fills `buf` from the kernel's random number generator.
fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("the kernel's random number generator failed: {e}"),
        }
    }
}

/// The challenge message body (what follows `#CHALLENGE#`) with a fresh nonce.
fn challenge_body(challenge: Challenge) -> Vec<u8> {
    match challenge {
        Challenge::Legacy => {
            let mut body = vec![0; LEGACY_CHALLENGE_LEN];
            fill_random(&mut body);
            body
        }
        Challenge::Modern(digest) => {
            let mut body = format!("{{{}}}", digest.name()).into_bytes();
            let prefix = body.len();
            body.resize(prefix + MODERN_NONCE_LEN, 0);
            fill_random(&mut body[prefix..]);
            body
        }
    }
}

/// CPython's `_get_digest_name_and_payload`: `None` for a legacy (raw MD5)
/// message, else the `{digest}` prefix's digest and what follows it.
fn digest_and_payload(message: &[u8]) -> Result<(Option<Digest>, &[u8])> {
    if message.len() == LEGACY_CHALLENGE_LEN || message.len() == MD5_LEN {
        return Ok((None, message));
    }
    if message.first() == Some(&b'{') {
        let window = &message[1..message.len().min(MAX_DIGEST_NAME + 2)];
        if let Some(close) = window.iter().position(|&b| b == b'}') {
            if let Some(digest) = Digest::from_name(&window[..close]) {
                return Ok((Some(digest), &message[close + 2..]));
            }
        }
    }
    Err(Error::authentication(
        "unsupported message length, missing digest prefix, or unsupported digest",
    ))
}

/// Checks the peer's answer to our challenge `body`; the digest it used.
fn check_answer(key: &[u8], body: &[u8], answer: &[u8]) -> Result<Digest> {
    let (digest, tag) = digest_and_payload(answer)?;
    let digest = digest.unwrap_or(Digest::Md5);
    if digest.verify(key, body, tag) {
        Ok(digest)
    } else {
        Err(Error::authentication("digest received was wrong"))
    }
}

/// The answer to the peer's challenge message, and the digest it uses
/// (`Md5` for a 3.11 challenge).
fn answer_to(key: &[u8], message: &[u8]) -> Result<(Vec<u8>, Digest)> {
    let Some(body) = message.strip_prefix(CHALLENGE) else {
        return Err(Error::authentication(
            "protocol error: expected a challenge",
        ));
    };
    if body.len() < LEGACY_CHALLENGE_LEN {
        return Err(Error::authentication(format!(
            "challenge too short: {} bytes",
            body.len()
        )));
    }
    Ok(match digest_and_payload(body)? {
        (None, _) => (Digest::Md5.mac(key, body), Digest::Md5),
        (Some(digest), _) => {
            let tag = digest.mac(key, body);
            (
                [format!("{{{}}}", digest.name()).as_bytes(), &tag].concat(),
                digest,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"mp-python known answer";

    type Answer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn sides(key: &[u8], challenge: Challenge) -> (Box<dyn HandshakeSide>, Box<dyn HandshakeSide>) {
        let handshake = CpythonHandshake::new(key).unwrap().challenge(challenge);
        (handshake.server(256), handshake.client(256))
    }

    /// Steps `side` with `received`: what it sent, and where it stands.
    fn step(
        side: &mut Box<dyn HandshakeSide>,
        received: Option<&[u8]>,
    ) -> (Vec<Vec<u8>>, mp_pipe::Result<Status>) {
        let mut send = Vec::new();
        let status = side.step(received, &mut send);
        (send, status)
    }

    fn refused(status: &mp_pipe::Result<Status>) -> bool {
        matches!(status, Err(mp_pipe::Error::Authentication(_)))
    }

    #[test]
    fn digests_match_python_hmac() {
        // hmac.new(KEY, b'{sha256}' + bytes(range(40)), name).hexdigest() on CPython 3.11.
        let body = [&b"{sha256}"[..], &(0..40).collect::<Vec<u8>>()].concat();
        let vectors = [
            (Digest::Md5, "0e188456085e039af3e370dd36b5aac7"),
            (
                Digest::Sha256,
                "146fc9446bfb4a982f8837e9e6da8d355bfb7b0c2c8c41616e3c8da19d392511",
            ),
            (
                Digest::Sha384,
                "13b3851ad5a19ba2d464a730a32cdb67f6af45268a5e5f4908eb94b0891a0bafb483e1b367f0138639f2d14f601fb28c",
            ),
            (
                Digest::Sha3_256,
                "c8966f3572d4916d9db7bcd65a95f7af43d5d5feebb92792278784159d1ecd04",
            ),
            (
                Digest::Sha3_384,
                "b1675f9a35f9c76e1e15ae5c80c079a1ce1ce5fb2699d43a26b836c041284538747131ed1afbcf83c0776ef1301a6798",
            ),
        ];
        for (digest, tag) in vectors {
            assert_eq!(digest.mac(KEY, &body), hex(tag), "{digest:?}");
            assert!(digest.verify(KEY, &body, &hex(tag)));
            assert!(!digest.verify(b"other key", &body, &hex(tag)));
        }
    }

    #[test]
    fn a_client_answers_recorded_challenges_byte_exactly() {
        let modern = [&b"{sha256}"[..], &(0..40).collect::<Vec<u8>>()].concat();
        let sha256 = hex("146fc9446bfb4a982f8837e9e6da8d355bfb7b0c2c8c41616e3c8da19d392511");
        let legacy: Vec<u8> = (100..120).collect();
        for (body, answer) in [
            (modern, [&b"{sha256}"[..], &sha256].concat()),
            (legacy, hex("8e020bf804c62c1a9334bf11a0b44afd")),
        ] {
            let (_, mut client) = sides(KEY, Challenge::default());
            let (sent, status) = step(&mut client, None);
            assert!(sent.is_empty(), "a client waits for the challenge");
            assert_eq!(status.unwrap(), Status::Continue);
            let (sent, status) = step(&mut client, Some(&[CHALLENGE, &body].concat()));
            assert_eq!(sent, vec![answer]);
            assert_eq!(status.unwrap(), Status::Continue);
            // Welcomed: now it challenges the listener.
            let (sent, status) = step(&mut client, Some(WELCOME));
            assert!(sent[0].starts_with(b"#CHALLENGE#{sha256}"), "{sent:?}");
            assert_eq!(status.unwrap(), Status::Continue);
        }
    }

    #[test]
    fn a_rejected_answer_is_an_authentication_error() {
        let (_, mut client) = sides(KEY, Challenge::default());
        step(&mut client, None).1.unwrap();
        let challenge = [CHALLENGE, &[7u8; 20][..]].concat();
        step(&mut client, Some(&challenge)).1.unwrap();
        let (sent, status) = step(&mut client, Some(FAILURE));
        assert!(sent.is_empty());
        assert!(refused(&status));
    }

    fn answer_with(digest: Digest, key: &'static [u8]) -> Answer {
        Box::new(move |body: &[u8]| {
            [
                format!("{{{}}}", digest.name()).as_bytes(),
                &digest.mac(key, body),
            ]
            .concat()
        })
    }

    #[test]
    fn a_server_accepts_every_digest_and_legacy_md5_and_refuses_wrong_keys() {
        let digests = [
            Digest::Md5,
            Digest::Sha256,
            Digest::Sha384,
            Digest::Sha3_256,
            Digest::Sha3_384,
        ];
        for challenge in [
            Challenge::Legacy,
            Challenge::default(),
            Challenge::Modern(Digest::Sha3_384),
        ] {
            let mut answers: Vec<(Answer, bool)> = digests
                .into_iter()
                .map(|digest| (answer_with(digest, KEY), true))
                .collect();
            // A 3.11 peer: raw HMAC-MD5 over everything after #CHALLENGE#.
            answers.push((Box::new(|body| Digest::Md5.mac(KEY, body)), true));
            answers.push((Box::new(|body| Digest::Md5.mac(b"wrong", body)), false));
            answers.push((answer_with(Digest::Sha256, b"wrong"), false));
            for (answer, right) in answers {
                let (mut server, _) = sides(KEY, challenge);
                let (sent, _) = step(&mut server, None);
                let body = sent[0].strip_prefix(CHALLENGE).unwrap().to_vec();
                let (sent, status) = step(&mut server, Some(&answer(&body)));
                if right {
                    assert_eq!(sent, vec![WELCOME.to_vec()]);
                    assert_eq!(status.unwrap(), Status::Continue);
                } else {
                    assert_eq!(sent, vec![FAILURE.to_vec()]);
                    assert!(refused(&status));
                }
            }
        }
    }

    /// Runs a server and a client side against each other in memory.
    fn converse(
        mut server: Box<dyn HandshakeSide>,
        mut client: Box<dyn HandshakeSide>,
    ) -> (mp_pipe::Result<Status>, mp_pipe::Result<Status>) {
        let (mut to_client, mut server_status) = step(&mut server, None);
        let (mut to_server, mut client_status) = step(&mut client, None);
        loop {
            let server_waits = matches!(server_status, Ok(Status::Continue));
            let client_waits = matches!(client_status, Ok(Status::Continue));
            let server_can = server_waits && !to_server.is_empty();
            let client_can = client_waits && !to_client.is_empty();
            if !server_can && !client_can {
                return (server_status, client_status);
            }
            if server_can {
                let message = to_server.remove(0);
                let (sent, status) = step(&mut server, Some(&message));
                to_client.extend(sent);
                server_status = status;
            }
            if client_can {
                let message = to_client.remove(0);
                let (sent, status) = step(&mut client, Some(&message));
                to_server.extend(sent);
                client_status = status;
            }
        }
    }

    #[test]
    fn both_sides_finish_with_the_same_key_in_every_form() {
        for challenge in [
            Challenge::Legacy,
            Challenge::default(),
            Challenge::Modern(Digest::Sha384),
        ] {
            let (server, client) = sides(KEY, challenge);
            let (s, c) = converse(server, client);
            assert_eq!(s.unwrap(), Status::Done(Outcome::new()));
            assert_eq!(c.unwrap(), Status::Done(Outcome::new()));
            let (server, _) = sides(KEY, challenge);
            let (_, client) = sides(b"other", challenge);
            let (s, c) = converse(server, client);
            assert!(refused(&s) && refused(&c));
        }
    }

    #[test]
    fn challenges_have_cpython_shapes() {
        let legacy = challenge_body(Challenge::Legacy);
        assert_eq!(legacy.len(), 20);
        let modern = challenge_body(Challenge::default());
        assert!(modern.starts_with(b"{sha256}"));
        assert_eq!(modern.len(), 8 + 40);
        assert_ne!(challenge_body(Challenge::default()), modern, "fresh nonces");
    }

    #[test]
    fn an_empty_authkey_is_refused() {
        assert!(CpythonHandshake::new(b"").unwrap_err().is_authentication());
    }

    #[test]
    fn malformed_challenges_are_refused_unanswered() {
        for bad in [
            &b"#CHALLENGE#short"[..],
            b"#WELCOME#",
            b"#CHALLENGE#{md4}0123456789012345678901234567890123456789",
        ] {
            let (_, mut client) = sides(KEY, Challenge::default());
            step(&mut client, None).1.unwrap();
            let (sent, status) = step(&mut client, Some(bad));
            assert!(refused(&status));
            assert!(sent.is_empty(), "nothing answered to {bad:?}");
        }
    }

    #[test]
    fn digest_prefixes_parse_as_cpython_does() {
        let (digest, payload) = digest_and_payload(b"{sha256}abcdefghijklmnopqrstu").unwrap();
        assert_eq!(digest, Some(Digest::Sha256));
        assert_eq!(payload, b"abcdefghijklmnopqrstu");
        let (digest, _) = digest_and_payload(b"{sha3_384}abcdefghijklmnopqrst").unwrap();
        assert_eq!(digest, Some(Digest::Sha3_384));
        // 16 and 20 bytes are legacy whatever they hold.
        assert_eq!(digest_and_payload(b"{sha256}12345678").unwrap().0, None);
        assert_eq!(digest_and_payload(b"{sha256}123456789012").unwrap().0, None);
        for bad in [
            &b"{sha1}abcdefghijklmnopqrstuvwxyz"[..],
            b"{}abcdefghijklmnopqrstuvwxyz",
            b"sha256abcdefghijklmnopqrstuvwxyz",
            b"{sha256abcdefghijklmnopqrstuvwxyz",
            b"",
        ] {
            assert!(
                digest_and_payload(bad).unwrap_err().is_authentication(),
                "{bad:?}"
            );
        }
    }
}
