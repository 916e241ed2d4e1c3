//! CPython's authkey handshake (`multiprocessing.connection`'s
//! `deliver_challenge` / `answer_challenge`), in both forms it speaks:
//!
//! - Python 3.11 and older: the challenge is `#CHALLENGE#` + 20 random
//!   bytes; the answer is the raw 16-byte HMAC-MD5 of those 20 bytes.
//! - Python 3.12+: the challenge is `#CHALLENGE#{sha256}` + 40 random bytes;
//!   the answer is `{digest}` + HMAC-digest of everything after
//!   `#CHALLENGE#` (prefix included), with md5, sha256, sha384, sha3_256 or
//!   sha3_384. A 20-byte challenge or a 16-byte answer marks a legacy peer,
//!   which gets (or gives) raw HMAC-MD5, exactly as CPython decides.
//!
//! Then `#WELCOME#` or `#FAILURE#`. Every handshake message is limited to
//! [`HANDSHAKE_MESSAGE_LIMIT`] bytes; digests are compared in constant time;
//! an empty authkey is refused with the same error kind as a wrong one.

use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};

use crate::error::{Error, Result};

/// CPython reads every handshake message with `recv_bytes(256)`.
pub const HANDSHAKE_MESSAGE_LIMIT: usize = 256;

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

/// One message at a time over a connection, each whole, with a deadline:
/// what the handshake needs from a transport. mp's own `Connection` can
/// implement it with CPython framing; [`BlockingConnection`](crate::BlockingConnection)
/// does over a plain socket.
pub trait MessageChannel {
    /// Sends one message.
    fn send_message(&mut self, message: &[u8], deadline: Instant) -> Result<()>;

    /// Receives one message of at most `max_len` bytes; a longer one is
    /// [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge).
    fn recv_message(&mut self, max_len: usize, deadline: Instant) -> Result<Vec<u8>>;
}

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

/// What a completed mutual handshake learned about the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The digest the peer answered our challenge with (`Md5` for a
    /// 3.11 peer).
    pub peer_digest: Digest,
    /// The digest we answered the peer's challenge with (`Md5` if the
    /// peer sent a 3.11 challenge).
    pub our_digest: Digest,
}

/// The listening side, as CPython's `Listener.accept`: deliver a challenge,
/// then answer the peer's.
pub fn server_handshake<C: MessageChannel + ?Sized>(
    channel: &mut C,
    authkey: &[u8],
    challenge: Challenge,
    deadline: Instant,
) -> Result<Authenticated> {
    let peer_digest = deliver_challenge(channel, authkey, challenge, deadline)?;
    let our_digest = answer_challenge(channel, authkey, deadline)?;
    Ok(Authenticated {
        peer_digest,
        our_digest,
    })
}

/// The connecting side, as CPython's `Client`: answer the listener's
/// challenge, then deliver one.
pub fn client_handshake<C: MessageChannel + ?Sized>(
    channel: &mut C,
    authkey: &[u8],
    challenge: Challenge,
    deadline: Instant,
) -> Result<Authenticated> {
    let our_digest = answer_challenge(channel, authkey, deadline)?;
    let peer_digest = deliver_challenge(channel, authkey, challenge, deadline)?;
    Ok(Authenticated {
        peer_digest,
        our_digest,
    })
}

fn refuse_empty(authkey: &[u8]) -> Result<()> {
    if authkey.is_empty() {
        return Err(Error::authentication("an empty authkey is refused"));
    }
    Ok(())
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

/// Sends a challenge and checks the answer, replying `#WELCOME#` or
/// `#FAILURE#`. Returns the digest the peer answered with.
pub fn deliver_challenge<C: MessageChannel + ?Sized>(
    channel: &mut C,
    authkey: &[u8],
    challenge: Challenge,
    deadline: Instant,
) -> Result<Digest> {
    refuse_empty(authkey)?;
    let body = challenge_body(challenge);
    channel.send_message(&[CHALLENGE, &body].concat(), deadline)?;
    let response = channel.recv_message(HANDSHAKE_MESSAGE_LIMIT, deadline)?;
    let verdict = digest_and_payload(&response).and_then(|(digest, tag)| {
        let digest = digest.unwrap_or(Digest::Md5);
        if digest.verify(authkey, &body, tag) {
            Ok(digest)
        } else {
            Err(Error::authentication("digest received was wrong"))
        }
    });
    match verdict {
        Ok(digest) => {
            channel.send_message(WELCOME, deadline)?;
            Ok(digest)
        }
        Err(e) => {
            // The peer learns it failed; a send error changes nothing here.
            let _ = channel.send_message(FAILURE, deadline);
            Err(e)
        }
    }
}

/// Answers the peer's challenge and waits for its verdict. Returns the
/// digest used (`Md5` for a 3.11 challenge).
pub fn answer_challenge<C: MessageChannel + ?Sized>(
    channel: &mut C,
    authkey: &[u8],
    deadline: Instant,
) -> Result<Digest> {
    refuse_empty(authkey)?;
    let message = channel.recv_message(HANDSHAKE_MESSAGE_LIMIT, deadline)?;
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
    let (answer, digest) = match digest_and_payload(body)? {
        (None, _) => (Digest::Md5.mac(authkey, body), Digest::Md5),
        (Some(digest), _) => {
            let tag = digest.mac(authkey, body);
            (
                [format!("{{{}}}", digest.name()).as_bytes(), &tag].concat(),
                digest,
            )
        }
    };
    channel.send_message(&answer, deadline)?;
    let verdict = channel.recv_message(HANDSHAKE_MESSAGE_LIMIT, deadline)?;
    if verdict != WELCOME {
        return Err(Error::authentication("digest sent was rejected"));
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;
    use crate::ErrorKind;

    const KEY: &[u8] = b"mp-python known answer";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// A peer that plays back `incoming` and records what it was sent.
    #[derive(Default)]
    struct Script {
        incoming: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl MessageChannel for Script {
        fn send_message(&mut self, message: &[u8], _deadline: Instant) -> Result<()> {
            self.sent.push(message.to_vec());
            Ok(())
        }
        fn recv_message(&mut self, max_len: usize, _deadline: Instant) -> Result<Vec<u8>> {
            let message = self.incoming.pop_front().ok_or(ErrorKind::Eof)?;
            if message.len() > max_len {
                return Err(ErrorKind::MessageTooLarge {
                    len: message.len() as u64,
                    limit: max_len as u64,
                }
                .into());
            }
            Ok(message)
        }
    }

    /// A peer that answers whatever challenge it gets, with `answer`.
    struct Answerer<F: FnMut(&[u8]) -> Vec<u8>> {
        answer: F,
        pending: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl<F: FnMut(&[u8]) -> Vec<u8>> MessageChannel for Answerer<F> {
        fn send_message(&mut self, message: &[u8], _deadline: Instant) -> Result<()> {
            if let Some(body) = message.strip_prefix(CHALLENGE) {
                let reply = (self.answer)(body);
                self.pending.push_back(reply);
            }
            self.sent.push(message.to_vec());
            Ok(())
        }
        fn recv_message(&mut self, _max_len: usize, _deadline: Instant) -> Result<Vec<u8>> {
            self.pending
                .pop_front()
                .ok_or_else(|| ErrorKind::Eof.into())
        }
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
    fn answers_a_recorded_312_challenge_byte_exactly() {
        let body = [&b"{sha256}"[..], &(0..40).collect::<Vec<u8>>()].concat();
        let mut peer = Script::default();
        peer.incoming.push_back([CHALLENGE, &body].concat());
        peer.incoming.push_back(WELCOME.to_vec());
        assert_eq!(
            answer_challenge(&mut peer, KEY, soon()).unwrap(),
            Digest::Sha256
        );
        let tag = hex("146fc9446bfb4a982f8837e9e6da8d355bfb7b0c2c8c41616e3c8da19d392511");
        assert_eq!(peer.sent, vec![[&b"{sha256}"[..], &tag].concat()]);
    }

    #[test]
    fn answers_a_recorded_311_challenge_with_raw_md5() {
        let mut peer = Script::default();
        peer.incoming
            .push_back([CHALLENGE, &(100..120).collect::<Vec<u8>>()].concat());
        peer.incoming.push_back(WELCOME.to_vec());
        assert_eq!(
            answer_challenge(&mut peer, KEY, soon()).unwrap(),
            Digest::Md5
        );
        assert_eq!(peer.sent, vec![hex("8e020bf804c62c1a9334bf11a0b44afd")]);
    }

    #[test]
    fn a_rejected_answer_is_an_authentication_error() {
        let mut peer = Script::default();
        peer.incoming
            .push_back([CHALLENGE, &[7u8; 20][..]].concat());
        peer.incoming.push_back(FAILURE.to_vec());
        assert!(
            answer_challenge(&mut peer, KEY, soon())
                .unwrap_err()
                .is_authentication()
        );
    }

    #[test]
    fn deliver_accepts_every_digest_and_legacy_md5_and_refuses_wrong_keys() {
        for challenge in [
            Challenge::Legacy,
            Challenge::default(),
            Challenge::Modern(Digest::Sha3_384),
        ] {
            for digest in [
                Digest::Md5,
                Digest::Sha256,
                Digest::Sha384,
                Digest::Sha3_256,
                Digest::Sha3_384,
            ] {
                let answer = |body: &[u8]| {
                    [
                        format!("{{{}}}", digest.name()).as_bytes(),
                        &digest.mac(KEY, body),
                    ]
                    .concat()
                };
                let mut peer = Answerer {
                    answer,
                    pending: VecDeque::new(),
                    sent: Vec::new(),
                };
                assert_eq!(
                    deliver_challenge(&mut peer, KEY, challenge, soon()).unwrap(),
                    digest
                );
                assert_eq!(peer.sent.last().unwrap(), WELCOME);
            }
            // A 3.11 peer: raw HMAC-MD5 over everything after #CHALLENGE#.
            let answer = |body: &[u8]| Digest::Md5.mac(KEY, body);
            let mut peer = Answerer {
                answer,
                pending: VecDeque::new(),
                sent: Vec::new(),
            };
            assert_eq!(
                deliver_challenge(&mut peer, KEY, challenge, soon()).unwrap(),
                Digest::Md5
            );
            // A wrong key.
            let answer = |body: &[u8]| Digest::Md5.mac(b"wrong", body);
            let mut peer = Answerer {
                answer,
                pending: VecDeque::new(),
                sent: Vec::new(),
            };
            let err = deliver_challenge(&mut peer, KEY, challenge, soon()).unwrap_err();
            assert!(err.is_authentication(), "{err}");
            assert_eq!(peer.sent.last().unwrap(), FAILURE);
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
    fn an_empty_authkey_is_refused_before_anything_is_sent() {
        let mut peer = Script::default();
        peer.incoming
            .push_back([CHALLENGE, &[7u8; 20][..]].concat());
        assert!(
            answer_challenge(&mut peer, b"", soon())
                .unwrap_err()
                .is_authentication()
        );
        assert!(
            deliver_challenge(&mut peer, b"", Challenge::default(), soon())
                .unwrap_err()
                .is_authentication()
        );
        assert!(
            server_handshake(&mut peer, b"", Challenge::default(), soon())
                .unwrap_err()
                .is_authentication()
        );
        assert!(
            client_handshake(&mut peer, b"", Challenge::default(), soon())
                .unwrap_err()
                .is_authentication()
        );
        assert!(peer.sent.is_empty());
    }

    #[test]
    fn oversized_and_malformed_challenges_are_refused() {
        let mut peer = Script::default();
        peer.incoming
            .push_back([CHALLENGE, &[0u8; 300][..]].concat());
        let err = answer_challenge(&mut peer, KEY, soon()).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MessageTooLarge { limit: 256, .. }),
            "{err}"
        );
        for bad in [
            &b"#CHALLENGE#short"[..],
            b"#WELCOME#",
            b"#CHALLENGE#{md4}0123456789012345678901234567890123456789",
        ] {
            let mut peer = Script::default();
            peer.incoming.push_back(bad.to_vec());
            assert!(
                answer_challenge(&mut peer, KEY, soon())
                    .unwrap_err()
                    .is_authentication()
            );
            assert!(peer.sent.is_empty(), "nothing answered to {bad:?}");
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
