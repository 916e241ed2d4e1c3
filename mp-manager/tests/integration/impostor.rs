//! A server that does not hold the authkey cannot pass for the manager: a
//! client checks the server's answer to its own challenge, so an impostor
//! that welcomes every client and then answers with a wrong digest, or
//! with the client's own digest played back, is an authentication error,
//! for `BaseManager::connect` and for a proxy alike.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use mp_manager::{BaseManager, Error, ListProxy};
use mp_pipe::{Address, Connection};

use crate::{DEADLINE, PATIENCE};

// mp-pipe's handshake, spelled out: the impostor is written by hand.
const HELLO: &[u8] = b"#MP-HELLO-2#";
const CHALLENGE: &[u8] = b"#MP-CHALLENGE-2#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";

/// How the impostor answers the client's challenge.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// 32 bytes that are not the digest (as from a server with another key).
    WrongDigest,
    /// The digest the client sent for the impostor's challenge.
    Reflection,
}

/// An impostor listening on a Unix socket path; `serve` runs it.
struct Impostor {
    listener: UnixListener,
    path: PathBuf,
    answer: Answer,
    stop: AtomicBool,
    /// What each client sent after the impostor's answer (its verdict).
    verdicts: Mutex<Vec<Vec<u8>>>,
}

impl Impostor {
    fn bind(path: &Path, answer: Answer) -> Impostor {
        let _ = std::fs::remove_file(path);
        Impostor {
            listener: UnixListener::bind(path).unwrap(),
            path: path.to_owned(),
            answer,
            stop: AtomicBool::new(false),
            verdicts: Mutex::new(Vec::new()),
        }
    }

    /// Plays the server to every client until `stop`.
    fn serve(&self) {
        loop {
            let (stream, _) = self.listener.accept().unwrap();
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let verdict = self.fool(Connection::from(stream));
            self.verdicts.lock().unwrap().push(verdict);
        }
    }

    /// A proper challenge, a welcome whatever the client answers, then the
    /// wrong answer to the client's challenge; returns the client's
    /// verdict (empty if it sent none) and hangs up.
    fn fool(&self, conn: Connection) -> Vec<u8> {
        // The client speaks first (its hello and message size limit).
        let Ok(hello) = conn.recv_bytes_timeout(PATIENCE) else {
            return Vec::new();
        };
        assert!(hello.starts_with(HELLO), "{hello:?}");
        // A challenge: the prefix, this end's size limit, a 32-byte nonce.
        let mut challenge = CHALLENGE.to_vec();
        challenge.extend_from_slice(&u64::MAX.to_le_bytes());
        challenge.extend_from_slice(&[7; 32]);
        conn.send_bytes(&challenge).unwrap();
        let their_digest = conn.recv_bytes_timeout(PATIENCE).unwrap();
        conn.send_bytes(WELCOME).unwrap();
        let Ok(their_challenge) = conn.recv_bytes_timeout(PATIENCE) else {
            return Vec::new();
        };
        if !their_challenge.starts_with(CHALLENGE) {
            // A client that does not check the server sends its first
            // request instead.
            return their_challenge;
        }
        let answer = match self.answer {
            Answer::WrongDigest => vec![0xa5; their_digest.len()],
            Answer::Reflection => their_digest,
        };
        conn.send_bytes(&answer).unwrap();
        conn.recv_bytes_timeout(PATIENCE).unwrap_or_default()
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept.
        drop(UnixStream::connect(&self.path).unwrap());
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn socket_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "mp-manager-impostor-{}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs `client` while an impostor answering with `answer` serves `path`;
/// returns what `client` returned and the verdicts of the clients it met.
fn against_impostor<R>(
    path: &Path,
    answer: Answer,
    client: impl FnOnce() -> R,
) -> (R, Vec<Vec<u8>>) {
    let impostor = Impostor::bind(path, answer);
    let result = std::thread::scope(|s| {
        s.spawn(|| impostor.serve());
        let result = client();
        impostor.stop();
        result
    });
    let verdicts = std::mem::take(&mut *impostor.verdicts.lock().unwrap());
    (result, verdicts)
}

/// Every client the impostor met refused it.
fn all_refused(answer: Answer, verdicts: &[Vec<u8>]) {
    assert!(!verdicts.is_empty(), "{answer:?}: no client came");
    assert!(
        verdicts.iter().all(|v| v == FAILURE),
        "{answer:?}: the clients said {verdicts:?}"
    );
}

#[test]
fn connecting_to_an_impostor_is_an_authentication_error() {
    let _d = mp_testkit::deadline(DEADLINE);
    for answer in [Answer::WrongDigest, Answer::Reflection] {
        let path = socket_path();
        let (connected, verdicts) = against_impostor(&path, answer, || {
            BaseManager::new()
                .address(Address::Unix(path.clone()))
                .authkey(b"the real key")
                .connect()
        });
        assert!(
            matches!(connected, Err(Error::Authentication(_))),
            "{answer:?}: {connected:?}"
        );
        all_refused(answer, &verdicts);
    }
}

/// A proxy whose manager's address is now held by an impostor (a token
/// that outlived its server) fails with an authentication error too.
#[test]
fn a_proxy_of_an_impostor_is_an_authentication_error() {
    let _d = mp_testkit::deadline(DEADLINE);
    for answer in [Answer::WrongDigest, Answer::Reflection] {
        let path = socket_path();
        let manager = BaseManager::new()
            .address(Address::Unix(path.clone()))
            .start()
            .unwrap();
        let list = manager.list_from([1u32]).unwrap();
        let (bytes, fds) = mp_handle::encode(&list).unwrap();
        manager.shutdown().unwrap();
        drop((list, manager));
        let (len, verdicts) = against_impostor(&path, answer, || {
            let list: ListProxy<u32> = mp_handle::decode(&bytes, fds).unwrap();
            list.len()
        });
        assert!(
            matches!(len, Err(Error::Authentication(_))),
            "{answer:?}: {len:?}"
        );
        all_refused(answer, &verdicts);
    }
}
