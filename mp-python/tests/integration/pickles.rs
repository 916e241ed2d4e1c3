//! Pickles round-trip with real CPython: Python pickles (protocols 2, 4, 5
//! and HIGHEST_PROTOCOL), mp-python decodes and checks; mp-python encodes,
//! Python `pickle.loads` and checks. On every Python 3.8+ found.

use mp_python::{BigInt, Codec, Global, Pickled, PyObject, PyValue};

use crate::python::{all_pythons, hex, run, unhex};

/// Python helpers: `norm` turns a value into a comparable, type-exact form.
pub(crate) const PRELUDE: &str = r#"
import sys, pickle, math, queue, _queue
from multiprocessing.managers import Token, RemoteError
def norm(x):
    t = type(x)
    if isinstance(x, BaseException):
        return ('exc', t.__module__, t.__qualname__, norm(x.args))
    if t is Token:
        return ('token', norm(x.__getstate__()))
    if t is float and math.isnan(x):
        return ('float', 'nan')
    if t in (list, tuple):
        return (t.__name__, tuple(norm(i) for i in x))
    if t is dict:
        return ('dict', tuple((norm(k), norm(v)) for k, v in x.items()))
    if t in (set, frozenset):
        return (t.__name__, frozenset(norm(i) for i in x))
    return (t.__name__, x)
"#;

fn s(text: &str) -> PyValue {
    PyValue::str(text)
}

fn i(v: i128) -> PyValue {
    PyValue::int(v)
}

fn big_pow2(bits: usize, negative: bool) -> PyValue {
    let mut le = vec![0u8; bits / 8 + 1];
    le[bits / 8] = 1 << (bits % 8);
    let value = BigInt::from_le_bytes(&le);
    if !negative {
        return PyValue::BigInt(value);
    }
    // Two's complement negation.
    let mut neg: Vec<u8> = value.to_le_bytes().iter().map(|b| !b).collect();
    for byte in neg.iter_mut() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            break;
        }
    }
    PyValue::BigInt(BigInt::from_le_bytes(&neg))
}

fn exc(module: &str, name: &str, args: Vec<PyValue>) -> PyValue {
    PyObject::call(Global::new(module, name), args).into()
}

/// (Python expression, the PyValue it must decode to).
pub(crate) fn cases() -> Vec<(&'static str, PyValue)> {
    let shared = PyValue::List(vec![i(1), i(2)]);
    vec![
        ("None", PyValue::None),
        ("True", PyValue::Bool(true)),
        ("False", PyValue::Bool(false)),
        ("0", i(0)),
        ("-1", i(-1)),
        ("255", i(255)),
        ("256", i(256)),
        ("65536", i(65536)),
        ("-2**31", i(-(1 << 31))),
        ("2**31", i(1 << 31)),
        ("2**63-1", i(i64::MAX.into())),
        ("-2**63", i(i64::MIN.into())),
        ("2**63", i(1 << 63)),
        ("-2**63-1", i(-(1 << 63) - 1)),
        ("2**64", i(1 << 64)),
        ("2**127-1", i(i128::MAX)),
        ("2**200", big_pow2(200, false)),
        ("-2**200", big_pow2(200, true)),
        ("2**2100", big_pow2(2100, false)),
        ("1.5", PyValue::Float(1.5)),
        ("-0.0", PyValue::Float(-0.0)),
        ("float('inf')", PyValue::Float(f64::INFINITY)),
        ("float('-inf')", PyValue::Float(f64::NEG_INFINITY)),
        ("float('nan')", PyValue::Float(f64::NAN)),
        ("''", s("")),
        (
            "'h\\xe9llo w\\xf6rld \\u2713 \\U0001f600'",
            s("héllo wörld ✓ 😀"),
        ),
        ("'x' * 300", s(&"x".repeat(300))),
        ("'y' * 70000", s(&"y".repeat(70000))),
        ("b''", PyValue::Bytes(vec![])),
        ("b'\\x00\\xff'", PyValue::Bytes(vec![0, 255])),
        (
            "bytes(range(256)) * 2",
            PyValue::Bytes((0..=255).chain(0..=255).collect()),
        ),
        ("bytearray()", PyValue::ByteArray(vec![])),
        ("bytearray(b'abc')", PyValue::ByteArray(b"abc".to_vec())),
        ("()", PyValue::Tuple(vec![])),
        ("(1,)", PyValue::Tuple(vec![i(1)])),
        ("(1, 2, 3)", PyValue::Tuple(vec![i(1), i(2), i(3)])),
        ("(1, 2, 3, 4)", PyValue::Tuple(vec![i(1), i(2), i(3), i(4)])),
        ("[]", PyValue::List(vec![])),
        (
            "[1, [2, [3, []]]]",
            PyValue::List(vec![
                i(1),
                PyValue::List(vec![i(2), PyValue::List(vec![i(3), PyValue::List(vec![])])]),
            ]),
        ),
        (
            "list(range(2500))",
            PyValue::List((0..2500).map(i).collect()),
        ),
        ("{}", PyValue::Dict(vec![])),
        (
            "{'b': 1, 2: 'a', (1, 2): None, None: [1], 'a': {}}",
            PyValue::Dict(vec![
                (s("b"), i(1)),
                (i(2), s("a")),
                (PyValue::Tuple(vec![i(1), i(2)]), PyValue::None),
                (PyValue::None, PyValue::List(vec![i(1)])),
                (s("a"), PyValue::Dict(vec![])),
            ]),
        ),
        (
            "{i: str(i) for i in range(1500)}",
            PyValue::Dict((0..1500).map(|n| (i(n), s(&n.to_string()))).collect()),
        ),
        ("set()", PyValue::Set(vec![])),
        ("{1, 2, 3}", PyValue::Set(vec![i(1), i(2), i(3)])),
        ("frozenset()", PyValue::FrozenSet(vec![])),
        ("frozenset({'x'})", PyValue::FrozenSet(vec![s("x")])),
        (
            "(lambda a: [a, a, (a,)])([1, 2])",
            PyValue::List(vec![
                shared.clone(),
                shared.clone(),
                PyValue::Tuple(vec![shared]),
            ]),
        ),
        (
            "(lambda t: [t] * 300)('shared')",
            PyValue::List(vec![s("shared"); 300]),
        ),
        ("KeyError('k')", exc("builtins", "KeyError", vec![s("k")])),
        (
            "ValueError('v', 1)",
            exc("builtins", "ValueError", vec![s("v"), i(1)]),
        ),
        ("IndexError()", exc("builtins", "IndexError", vec![])),
        ("queue.Empty()", exc("_queue", "Empty", vec![])),
        ("queue.Full()", exc("queue", "Full", vec![])),
        (
            "RemoteError()",
            exc("multiprocessing.managers", "RemoteError", vec![]),
        ),
        (
            "Token('dict', ('127.0.0.1', 5000), '7f00')",
            mp_python::Token {
                typeid: "dict".into(),
                address: PyValue::Tuple(vec![s("127.0.0.1"), i(5000)]),
                id: "7f00".into(),
            }
            .to_value(),
        ),
    ]
}

/// Equality that treats NaN as equal to NaN and compares sets as bags.
pub(crate) fn same(a: &PyValue, b: &PyValue) -> bool {
    match (a, b) {
        (PyValue::Float(x), PyValue::Float(y)) => {
            (x.is_nan() && y.is_nan()) || (x == y && x.is_sign_negative() == y.is_sign_negative())
        }
        (PyValue::Tuple(x), PyValue::Tuple(y)) | (PyValue::List(x), PyValue::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (PyValue::Set(x), PyValue::Set(y)) | (PyValue::FrozenSet(x), PyValue::FrozenSet(y)) => {
            x.len() == y.len() && x.iter().all(|x| y.iter().any(|y| same(x, y)))
        }
        (PyValue::Dict(x), PyValue::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((a, b), (c, d))| same(a, c) && same(b, d))
        }
        _ => a == b,
    }
}

const DUMP: &str = r#"
for line in sys.stdin.read().split('\n'):
    if line:
        v = eval(line)
        print(' '.join(pickle.dumps(v, p).hex() for p in (2, 4, 5, pickle.HIGHEST_PROTOCOL)))
"#;

#[test]
fn python_pickles_decode_to_the_same_values() {
    let _d = mp_testkit::deadline(std::time::Duration::from_secs(120));
    let cases = cases();
    let input: String = cases.iter().map(|(expr, _)| format!("{expr}\n")).collect();
    for python in all_pythons() {
        let out = run(&python, &format!("{PRELUDE}{DUMP}"), &[], input.as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), cases.len());
        for ((expr, expected), line) in cases.iter().zip(lines) {
            for (proto, pickle) in [2, 4, 5, 0].iter().zip(line.split(' ')) {
                let got = mp_python::decode(&unhex(pickle)).unwrap_or_else(|e| {
                    panic!("{:?} {expr} protocol {proto}: {e}", python.version)
                });
                assert!(
                    same(&got, expected),
                    "{:?} {expr} protocol {proto}: {got:?}",
                    python.version
                );
            }
        }
    }
}

const LOAD: &str = r#"
bad = 0
for line in sys.stdin.read().split('\n'):
    if line:
        expr, data = line.split('\t')
        got = pickle.loads(bytes.fromhex(data))
        if norm(got) != norm(eval(expr)):
            bad += 1
            print('MISMATCH', expr, repr(got)[:200])
print('checked', bad)
"#;

#[test]
fn encoded_values_load_in_python_as_the_same_values() {
    let _d = mp_testkit::deadline(std::time::Duration::from_secs(120));
    let cases = cases();
    let input: String = cases
        .iter()
        .map(|(expr, value)| format!("{expr}\t{}\n", hex(&mp_python::encode(value).unwrap())))
        .collect();
    for python in all_pythons() {
        let out = run(&python, &format!("{PRELUDE}{LOAD}"), &[], input.as_bytes());
        assert!(out.ends_with("checked 0\n"), "{:?}:\n{out}", python.version);
    }
}

#[test]
fn relayed_pickles_keep_their_bytes_and_splice_into_a_reply() {
    let _d = mp_testkit::deadline(std::time::Duration::from_secs(60));
    let Some(python) = crate::python::python3() else {
        return;
    };
    // Two memo-heavy pickles from Python, relayed inside one reply.
    let exprs =
        "(lambda a: [a, a, 'k', 'k'])([1, 2])\n(lambda s: {'x': s, 'y': [s, s]})('t' * 3)\n";
    let out = run(&python, &format!("{PRELUDE}{DUMP}"), &[], exprs.as_bytes());
    let codec = Codec::new();
    let relayed: Vec<Pickled> = out
        .lines()
        .map(|line| Pickled::new(unhex(line.split(' ').nth(1).unwrap()), &codec).unwrap())
        .collect();
    let original = unhex(out.lines().next().unwrap().split(' ').nth(1).unwrap());
    assert_eq!(relayed[0].as_bytes(), &original[..], "kept byte for byte");
    let reply = PyValue::Tuple(vec![
        s("#RETURN"),
        PyValue::List(vec![
            PyValue::Pickled(relayed[0].clone()),
            PyValue::Pickled(relayed[1].clone()),
        ]),
    ]);
    let bytes = codec.encode(&reply).unwrap();
    let check = "('#RETURN', [(lambda a: [a, a, 'k', 'k'])([1, 2]), (lambda s: {'x': s, 'y': [s, s]})('t' * 3)])";
    let out = run(
        &python,
        &format!("{PRELUDE}{LOAD}"),
        &[],
        format!("{check}\t{}\n", hex(&bytes)).as_bytes(),
    );
    assert!(out.ends_with("checked 0\n"), "{out}");
}
