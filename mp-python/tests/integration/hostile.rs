//! The hostile-input surfaces: the pickle decoder, the framing decoder and
//! the handshake get arbitrary, mutated and adversarial input and must
//! answer with a value or a typed error: no panic, stack overflow, hang, or
//! allocation beyond the input's budget.
//!
//! The property tests run `MP_PYTHON_FUZZ_CASES` cases each (default 256).
//! The long run is:
//!
//! ```text
//! MP_PYTHON_FUZZ_CASES=1000000 cargo test --release -p mp-python --test integration hostile
//! ```

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mp_pipe::{Framing, Handshake};
use mp_python::{Codec, CpythonHandshake, ErrorKind, PyConnection, PyValue, decode};
use proptest::prelude::*;

use crate::alloc_meter::peak_during;
use crate::pickles::cases;
use crate::python::{python3, run};

fn config() -> ProptestConfig {
    let cases = std::env::var("MP_PYTHON_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Decoding may allocate the arena and the value (a bounded multiple of
/// the input) but never what a declared length or a memo copy asks for.
fn decode_within_budget(input: &[u8]) -> Result<PyValue, mp_python::Error> {
    let (result, peak) = peak_during(|| decode(input));
    let bound = 256 * input.len() + (1 << 20);
    assert!(
        peak <= bound,
        "decoding {} bytes held {peak} bytes at peak",
        input.len()
    );
    result
}

/// Valid pickles to mutate: our encodings of the interop cases.
fn corpus() -> Vec<Vec<u8>> {
    cases()
        .iter()
        .map(|(_, value)| mp_python::encode(value).unwrap())
        .collect()
}

/// Every opcode byte CPython defines, plus a few it does not.
const OPCODES: &[u8] = b"(.012FIJKLMNPQRSTUVXabcdeghijlopqrstu}])G\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98BCz\xff";

/// A random opcode with a plausible (or hostile) operand.
fn op() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(OPCODES),
        prop::collection::vec(any::<u8>(), 0..10),
        any::<u32>(),
    )
        .prop_map(|(code, tail, n)| {
            let mut out = vec![code];
            match code {
                b'X' | b'B' | 0x8b => out.extend_from_slice(&(n % 64).to_le_bytes()),
                0x8d | 0x8e | 0x96 | 0x95 => {
                    out.extend_from_slice(&u64::from(n % 64).to_le_bytes())
                }
                b'c' => out.extend_from_slice(b"builtins\nKeyError\n"),
                _ => {}
            }
            out.extend_from_slice(&tail[..tail.len() % 4]);
            out
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_within_budget(&input);
    }

    #[test]
    fn opcode_soups_never_panic(ops in prop::collection::vec(op(), 0..64), proto in 0u8..7) {
        let mut input = vec![0x80, proto];
        input.extend(ops.concat());
        input.push(b'.');
        let _ = decode_within_budget(&input);
    }

    #[test]
    fn mutated_pickles_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let corpus = corpus();
        let mut input = corpus[pick.index(corpus.len())].clone();
        for (at, byte, kind) in edits {
            let i = at.index(input.len() + 1);
            match kind {
                0 if i < input.len() => input[i] = byte,
                1 => input.insert(i, byte),
                2 if i < input.len() => { input.remove(i); }
                _ => input.truncate(i),
            }
        }
        let _ = decode_within_budget(&input);
    }

    #[test]
    fn truncated_pickles_are_typed_errors(pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let corpus = corpus();
        let input = &corpus[pick.index(corpus.len())];
        let cut = cut.index(input.len());
        let err = decode_within_budget(&input[..cut]).unwrap_err();
        prop_assert!(matches!(err.kind(), ErrorKind::Truncated | ErrorKind::Malformed { .. }), "{err}");
    }

    #[test]
    fn framing_reads_never_panic_or_overrun(bytes in prop::collection::vec(any::<u8>(), 0..64), limit in 0u64..32) {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(&bytes).unwrap();
        drop(theirs);
        let conn = python_wire(ours);
        conn.set_max_message_size(limit);
        // Every read consumes bytes: within 64 reads the stream ends.
        let mut ended = false;
        for _ in 0..=bytes.len() {
            match conn.recv_bytes_timeout(Duration::from_secs(5)) {
                Ok(message) => prop_assert!(message.len() as u64 <= limit),
                Err(e) if matches!(e.kind(), ErrorKind::Eof | ErrorKind::TruncatedMessage) => {
                    ended = true;
                    break;
                }
                Err(e) => prop_assert!(
                    matches!(e.kind(), ErrorKind::MessageTooLarge { .. } | ErrorKind::Pipe(_)),
                    "{e}"
                ),
            }
        }
        prop_assert!(ended);
    }

    #[test]
    fn handshake_answers_to_garbage_are_typed_errors(reply in prop::collection::vec(any::<u8>(), 0..256)) {
        let handshake = CpythonHandshake::new(b"key").unwrap();
        // Our listener gets garbage for an answer: #FAILURE#, refused.
        let mut server = handshake.server(256);
        let mut send = Vec::new();
        server.step(None, &mut send).unwrap();
        send.clear();
        let refused = server.step(Some(&reply), &mut send);
        prop_assert!(matches!(refused, Err(mp_pipe::Error::Authentication(_))), "{refused:?}");
        prop_assert_eq!(send, vec![b"#FAILURE#".to_vec()]);
        // Our client gets garbage for a challenge, then a verdict: no panic,
        // and never done without the listener's answer to its challenge.
        let mut client = handshake.client(256);
        let mut send = Vec::new();
        client.step(None, &mut send).unwrap();
        if client.step(Some(&reply), &mut send).is_ok() {
            let status = client.step(Some(b"#WELCOME#"), &mut send);
            prop_assert_eq!(status.unwrap(), mp_pipe::Status::Continue);
        }
    }
}

/// Our end of a socket pair, speaking CPython's framing.
fn python_wire(stream: UnixStream) -> PyConnection {
    PyConnection::new(mp_pipe::Connection::from(stream).with_framing(Framing::Cpython))
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let depth = 1_000_000;
    // [[[...]]] a million deep: EMPTY_LIST x n, then APPEND x (n - 1).
    let mut input = vec![0x80, 4];
    input.extend(std::iter::repeat_n(b']', depth));
    input.extend(std::iter::repeat_n(b'a', depth - 1));
    input.push(b'.');
    let err = decode_within_budget(&input).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 128 }),
        "{err}"
    );
    // Tuples built from marks, a million deep.
    let mut input = vec![0x80, 4];
    input.extend(std::iter::repeat_n(b'(', depth));
    input.extend(std::iter::repeat_n(b't', depth));
    input.push(b'.');
    assert!(matches!(
        decode_within_budget(&input).unwrap_err().kind(),
        ErrorKind::TooDeep { .. }
    ));
    // Up to the limit is fine.
    let mut input = vec![0x80, 4];
    input.extend(std::iter::repeat_n(b']', 128));
    input.extend(std::iter::repeat_n(b'a', 127));
    input.push(b'.');
    assert!(decode_within_budget(&input).is_ok());
}

#[test]
fn huge_declared_lengths_allocate_nothing() {
    for code in [0x8d_u8, 0x8e, 0x96] {
        let mut input = vec![0x80, 5, code];
        input.extend_from_slice(&u64::MAX.to_le_bytes());
        input.extend_from_slice(b"abc.");
        assert!(matches!(
            decode_within_budget(&input).unwrap_err().kind(),
            ErrorKind::Truncated
        ));
    }
    for code in [b'X', b'B', 0x8b] {
        let mut input = vec![0x80, 4, code];
        input.extend_from_slice(&0x7fff_ffff_u32.to_le_bytes());
        input.push(b'.');
        assert!(decode_within_budget(&input).is_err());
    }
    let mut frame = vec![0x80, 4, 0x95];
    frame.extend_from_slice(&u64::MAX.to_le_bytes());
    frame.extend_from_slice(b"N.");
    assert!(matches!(
        decode_within_budget(&frame).unwrap_err().kind(),
        ErrorKind::Truncated
    ));
    // A framed message announcing 2^62 bytes allocates nothing either: no
    // sender writes one, so the stream lost its framing (Corrupt); one of
    // 2^40 bytes could be real, and ends truncated.
    for (header, corrupt) in [
        (
            &b"\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00"[..],
            true,
        ),
        (
            &b"\xff\xff\xff\xff\x00\x00\x01\x00\x00\x00\x00\x00"[..],
            false,
        ),
    ] {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(&[header, b"abc"].concat()).unwrap();
        drop(theirs);
        let conn = python_wire(ours);
        conn.set_max_message_size(u64::MAX);
        let (result, peak) = peak_during(|| conn.recv_bytes());
        let err = result.unwrap_err();
        if corrupt {
            assert!(
                matches!(err.kind(), ErrorKind::Pipe(mp_pipe::Error::Corrupt(_))),
                "{err:?}"
            );
        } else {
            assert!(matches!(err.kind(), ErrorKind::TruncatedMessage), "{err:?}");
        }
        assert!(peak < 1 << 20, "held {peak} bytes");
    }
}

#[test]
fn memo_bombs_hit_the_size_budget() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    // l0 = [b'x' * 1000]; l(n+1) = [(ln, ln)]; 40 levels would be 2^40 copies.
    let mut input = vec![0x80, 4, b']', 0x94, b'B'];
    input.extend_from_slice(&1000u32.to_le_bytes());
    input.extend(std::iter::repeat_n(b'x', 1000));
    input.push(b'a');
    for level in 0..40u32 {
        input.extend_from_slice(&[b']', 0x94, b'j']);
        input.extend_from_slice(&level.to_le_bytes());
        input.push(b'j');
        input.extend_from_slice(&level.to_le_bytes());
        input.push(b'\x86'); // TUPLE2 of the two references...
        input.push(b'a'); // ...appended to the new list.
    }
    input.push(b'.');
    let err = decode_within_budget(&input).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TooLarge { .. }), "{err}");
    // A raised budget still stops at the budget.
    let codec = Codec::new().max_size(10_000_000);
    let err = codec.decode(&input).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooLarge { limit: 10_000_000 }),
        "{err}"
    );
}

#[test]
fn self_containing_values_are_refused() {
    // l = []; l.append(l)
    let input = b"\x80\x04]\x94h\x00a.";
    assert!(matches!(
        decode_within_budget(input).unwrap_err().kind(),
        ErrorKind::Recursive
    ));
}

#[test]
fn memo_references_out_of_range_are_typed_errors() {
    for input in [
        &b"\x80\x04h\x05."[..],
        b"\x80\x04j\xff\xff\xff\xff.",
        b"\x80\x02g7\n.",
        b"\x80\x04N\x94h\x01.",
    ] {
        let err = decode_within_budget(input).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    }
    // A PUT far beyond the memo's size allocates nothing for the gap.
    assert_eq!(
        decode_within_budget(b"\x80\x04Nr\xff\xff\xff\xff.").unwrap(),
        PyValue::None
    );
}

fn forbidden(err: &mp_python::Error) -> (String, String) {
    match err.kind() {
        ErrorKind::ForbiddenGlobal { module, name } => (module.clone(), name.clone()),
        other => panic!("expected a forbidden global, got {other:?}"),
    }
}

#[test]
fn hostile_globals_are_named_and_nothing_runs() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let marker = std::env::temp_dir().join(format!("mp-python-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let command = format!("touch {}", marker.display());
    // Hand-written: os.system, builtins.eval, subprocess.Popen (protocol 2 GLOBAL and 4 STACK_GLOBAL).
    let mut handmade = Vec::new();
    for (module, name) in [
        ("os", "system"),
        ("builtins", "eval"),
        ("subprocess", "Popen"),
    ] {
        let mut p2 = vec![0x80, 2, b'c'];
        p2.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        p2.push(b'X');
        p2.extend_from_slice(&(command.len() as u32).to_le_bytes());
        p2.extend_from_slice(command.as_bytes());
        p2.extend_from_slice(b"\x85R.");
        handmade.push(((module, name), p2));
        let mut p4 = vec![0x80, 4, 0x8c, module.len() as u8];
        p4.extend_from_slice(module.as_bytes());
        p4.extend_from_slice(&[0x8c, name.len() as u8]);
        p4.extend_from_slice(name.as_bytes());
        p4.extend_from_slice(&[0x93, b'X']);
        p4.extend_from_slice(&(command.len() as u32).to_le_bytes());
        p4.extend_from_slice(command.as_bytes());
        p4.extend_from_slice(b"\x85R.");
        handmade.push(((module, name), p4));
    }
    for ((module, name), pickle) in &handmade {
        let err = decode(pickle).unwrap_err();
        assert_eq!(forbidden(&err), (module.to_string(), name.to_string()));
        assert!(
            err.to_string().contains(&format!("{module}.{name}")),
            "{err}"
        );
    }
    // What Python itself writes for a __reduce__ returning os.system / eval / Popen,
    // nested inside ordinary data.
    if let Some(python) = python3() {
        let script = r#"
import os, sys, pickle, subprocess
class Evil:
    def __init__(self, f, a): self.f, self.a = f, a
    def __reduce__(self): return (self.f, (self.a,))
cmd = sys.argv[1]
for f in (os.system, eval, subprocess.Popen):
    for p in (2, 4, 5):
        print(pickle.dumps({'ok': [1, 2], 'payload': Evil(f, cmd)}, p).hex())
"#;
        let out = run(&python, script, &[&command], b"");
        let mut named = std::collections::BTreeSet::new();
        for line in out.lines() {
            let err = decode(&crate::python::unhex(line)).unwrap_err();
            named.insert(forbidden(&err));
        }
        // os.system pickles under its real module (posix); protocol 2 writes
        // subprocess.Popen under its Python 2 name (commands.Popen).
        let expected: std::collections::BTreeSet<_> = [
            ("commands", "Popen"),
            ("posix", "system"),
            ("builtins", "eval"),
            ("subprocess", "Popen"),
        ]
        .into_iter()
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .collect();
        assert_eq!(named, expected);
    }
    assert!(!marker.exists(), "a hostile pickle ran code");
}

#[test]
fn the_encoder_refuses_globals_off_the_allow_list() {
    let evil = mp_python::PyObject::call(
        mp_python::Global::new("os", "system"),
        vec![PyValue::str("id")],
    );
    let err = mp_python::encode(&evil.into()).unwrap_err();
    assert_eq!(forbidden(&err), ("os".to_string(), "system".to_string()));
}
