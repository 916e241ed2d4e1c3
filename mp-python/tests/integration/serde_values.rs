//! serde values cross to and from real Python as the documented table says.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::pickles::PRELUDE;
use crate::python::{hex, python3, run, unhex};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Pair(i32, i32),
    Rect { w: u32, h: u32 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    big: u128,
    neg: i128,
    ratio: f32,
    name: String,
    letter: char,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    pair: (i8, String),
    list: Vec<u16>,
    #[serde(with = "mp_python::set")]
    tags: BTreeSet<String>,
    plain_set: HashSet<i64>,
    map: BTreeMap<String, Option<bool>>,
    nothing: Option<u8>,
    unit: (),
    shapes: Vec<Shape>,
}

fn record() -> Record {
    Record {
        id: u64::MAX,
        big: u128::MAX,
        neg: i128::MIN,
        ratio: 0.5,
        name: "naïve ✓".into(),
        letter: 'z',
        data: vec![0, 1, 255],
        pair: (-3, "p".into()),
        list: vec![1, 2, 65535],
        tags: ["a".to_string()].into(),
        plain_set: [7].into(),
        map: [("k".to_string(), Some(true)), ("n".to_string(), None)].into(),
        nothing: None,
        unit: (),
        shapes: vec![
            Shape::Empty,
            Shape::Circle(1.5),
            Shape::Pair(1, 2),
            Shape::Rect { w: 3, h: 4 },
        ],
    }
}

/// The same record written by Python, as the table maps it.
const PY_RECORD: &str = "{'id': 2**64-1, 'big': 2**128-1, 'neg': -2**127, 'ratio': 0.5, \
    'name': 'na\\xefve \\u2713', 'letter': 'z', 'data': b'\\x00\\x01\\xff', 'pair': (-3, 'p'), \
    'list': [1, 2, 65535], 'tags': {'a'}, 'plain_set': [7], 'map': {'k': True, 'n': None}, \
    'nothing': None, 'unit': None, 'shapes': ['Empty', {'Circle': 1.5}, {'Pair': (1, 2)}, \
    {'Rect': {'w': 3, 'h': 4}}]}";

#[test]
fn a_rust_struct_loads_in_python_as_the_mapped_dict() {
    let _d = mp_testkit::deadline(std::time::Duration::from_secs(60));
    let Some(python) = python3() else { return };
    let bytes = mp_python::to_pickle(&record()).unwrap();
    let script = format!(
        "{PRELUDE}\ngot = pickle.loads(bytes.fromhex(sys.stdin.read()))\n\
         want = {PY_RECORD}\nprint('same' if norm(got) == norm(want) else 'DIFFERENT ' + repr(got))\n"
    );
    let out = run(&python, &script, &[], hex(&bytes).as_bytes());
    assert_eq!(out.trim(), "same");
}

#[test]
fn a_python_dict_decodes_into_the_rust_struct() {
    let _d = mp_testkit::deadline(std::time::Duration::from_secs(60));
    let Some(python) = python3() else { return };
    let script = format!(
        "{PRELUDE}\nv = {PY_RECORD}\nv['plain_set'] = set(v['plain_set'])\n\
         print(' '.join(pickle.dumps(v, p).hex() for p in (2, 4, 5)))\n"
    );
    let out = run(&python, &script, &[], b"");
    for pickle in out.split_whitespace() {
        let got: Record = mp_python::from_pickle(&unhex(pickle)).unwrap();
        assert_eq!(got, record());
    }
}
