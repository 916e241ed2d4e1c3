//! Manager addresses as Python users write them: `BaseManager::address`
//! and `Manager::connect` take strings and `(host, port)` pairs; a string
//! that is no address is `Error::Address`, with nothing started.

use mp_manager::{BaseManager, Error, ListProxy, Manager};
use mp_pipe::Address;

use crate::DEADLINE;

#[test]
fn a_manager_binds_and_is_reached_by_host_port_strings() {
    let _d = mp_testkit::deadline(DEADLINE);
    let key = b"open sesame";
    let server = BaseManager::new()
        .address("127.0.0.1:0")
        .authkey(key)
        .start()
        .unwrap();
    let Address::Tcp(bound) = server.address().clone() else {
        panic!("not TCP: {}", server.address())
    };
    assert!(bound.ip().is_loopback());
    let list: ListProxy<u32> = server.list().unwrap();
    list.append(&7).unwrap();

    // What a user copies from a log line, as a String.
    let client = Manager::connect(format!("127.0.0.1:{}", bound.port()), key).unwrap();
    assert_eq!(client.address(), server.address());
    let theirs: ListProxy<u32> = client.list_from([1, 2]).unwrap();
    assert_eq!(theirs.len().unwrap(), 2);
    assert_eq!(list.to_vec().unwrap(), [7]);

    let by_pair = BaseManager::new()
        .address(("127.0.0.1", bound.port()))
        .authkey(key)
        .connect()
        .unwrap();
    assert_eq!(by_pair.address(), server.address());
}

#[test]
fn a_string_that_is_no_address_is_a_typed_error() {
    let _d = mp_testkit::deadline(DEADLINE);
    assert!(matches!(
        BaseManager::new().address("no port here").start(),
        Err(Error::Address(_))
    ));
    assert!(matches!(
        BaseManager::new().address("@").get_server(),
        Err(Error::Address(_))
    ));
    match Manager::connect("no port here", b"key") {
        Err(Error::Address(e)) => assert!(e.to_string().contains("no port here"), "{e}"),
        other => panic!("expected Error::Address, got {other:?}"),
    }
}
