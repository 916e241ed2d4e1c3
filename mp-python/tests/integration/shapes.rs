//! What a real CPython manager sends decodes to the typed shapes (proxies,
//! tokens, replies, requests), and a proxy we encode works in Python.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use mp_python::{Global, ProxyRef, PyException, PyValue, Token};

use crate::python::{hex, python3, spawn, unhex};

const MANAGER: &str = r#"
import pickle, sys
from multiprocessing.managers import SyncManager
m = SyncManager()
m.start()
d = m.dict({'a': 1})
q = m.Queue()
l = m.list([1, 2])
for obj in (
    d,
    q,
    d._token,
    ('#ERROR', KeyError('missing')),
    ('#RETURN', {'a': 1}),
    (d._id, '__setitem__', ('k', [1, 2]), {}),
    ('#PROXY', (('append', 'pop'), l._token)),
):
    print(pickle.dumps(obj, 4).hex(), flush=True)
print(pickle.dumps(d._token, 2).hex(), flush=True)
print(pickle.dumps(d._token, 1).hex(), flush=True)
# Our re-encoded dict proxy must work here.
proxy = pickle.loads(bytes.fromhex(sys.stdin.readline()))
proxy['from-rust'] = 42
print(sorted(d.items()), flush=True)
m.shutdown()
"#;

#[test]
fn a_real_managers_shapes_decode_and_our_proxy_works_in_python() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let Some(python) = python3() else { return };
    let mut child = spawn(&python, MANAGER, &[]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut next = || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        mp_python::decode(&unhex(line.trim())).unwrap()
    };
    let dict_proxy = ProxyRef::from_value(&next()).unwrap();
    assert_eq!(
        dict_proxy.proxy_type,
        Global::new("multiprocessing.managers", "DictProxy")
    );
    assert_eq!(dict_proxy.token.typeid, "dict");
    assert_eq!(dict_proxy.serializer, "pickle");
    let queue_proxy = ProxyRef::from_value(&next()).unwrap();
    assert_eq!(
        queue_proxy.proxy_type,
        Global::new("multiprocessing.managers", "AutoProxy")
    );
    assert_eq!(queue_proxy.kwds[0].0, PyValue::str("exposed"));
    let token = Token::from_value(&next()).unwrap();
    assert_eq!(token, dict_proxy.token);
    let PyValue::Tuple(error) = next() else {
        panic!("a reply tuple")
    };
    assert_eq!(error[0], PyValue::str("#ERROR"));
    assert_eq!(
        PyException::from_value(&error[1]).unwrap(),
        PyException::builtin("KeyError", vec![PyValue::str("missing")])
    );
    let ret = next();
    assert_eq!(
        ret,
        mp_python::to_value(&(
            "#RETURN",
            [("a", 1)]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
        ))
        .unwrap()
    );
    let PyValue::Tuple(request) = next() else {
        panic!("a request tuple")
    };
    assert_eq!(request[0], PyValue::str(&token.id));
    assert_eq!(request[1], PyValue::str("__setitem__"));
    let PyValue::Tuple(proxy_reply) = next() else {
        panic!("a #PROXY reply")
    };
    let PyValue::Tuple(exposed_token) = &proxy_reply[1] else {
        panic!("(exposed, token)")
    };
    assert_eq!(Token::from_value(&exposed_token[1]).unwrap().typeid, "list");
    // Protocol 2 writes the same token the same way.
    assert_eq!(Token::from_value(&next()).unwrap(), token);
    // Protocol 1 spells it copy_reg._reconstructor(Token, object, None) + BUILD.
    assert_eq!(Token::from_value(&next()).unwrap(), token);

    // Back to Python: our encoding of the proxy rebuilds a live proxy there.
    let bytes = mp_python::encode(&dict_proxy.to_value()).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", hex(&bytes)).unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "[('a', 1), ('from-rust', 42)]");
    assert!(child.wait().unwrap().success());
}
