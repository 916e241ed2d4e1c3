//! A remote manager over TLS: clients that trust its CA (and hold the key)
//! get in, proxies passed to other processes reconnect with TLS, a plain
//! client is refused with a clear error.

use mp_manager::{BaseManager, Error, ListProxy};
use mp_pipe::Address;
use mp_pipe::tls::{TlsClient, TlsServer};
use mp_process::StartMethod;
use mp_testkit::TestPki;

use crate::DEADLINE;

fn append_from_child(list: ListProxy<String>) -> usize {
    list.append(&"from a child".to_string()).unwrap();
    list.len().unwrap()
}

fn connect_from_child(address: Address, ca: String) -> Result<Vec<String>, String> {
    let manager = BaseManager::new()
        .address(address)
        .authkey(b"tls key")
        .tls_client(TlsClient::from_ca_pem(ca.as_bytes()).map_err(|e| e.to_string())?)
        .connect()
        .map_err(|e| e.to_string())?;
    let list: ListProxy<String> = manager.list().map_err(|e| e.to_string())?;
    list.append(&"made remotely".to_string())
        .map_err(|e| e.to_string())?;
    list.to_vec().map_err(|e| e.to_string())
}

#[test]
fn a_remote_manager_over_tls() {
    let _d = mp_testkit::deadline(DEADLINE);
    let pki = TestPki::new();
    let manager = BaseManager::new()
        .address(Address::localhost(0))
        .authkey(b"tls key")
        .tls_server(TlsServer::from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).unwrap())
        .tls_client(TlsClient::from_ca_pem(pki.ca.as_bytes()).unwrap())
        .start_method(StartMethod::Spawn)
        .start()
        .unwrap();
    let list = manager.list::<String>().unwrap();
    list.append(&"from the owner".to_string()).unwrap();
    // A proxy given to a child carries the TLS settings: the child
    // reconnects over TLS.
    let child = mp_process::Context::new(StartMethod::Spawn)
        .spawn(append_from_child, (list.clone(),))
        .unwrap();
    assert_eq!(child.join().unwrap(), 2);
    // Another process connects with the CA and the key.
    let other = mp_process::spawn(
        connect_from_child,
        (manager.address().clone(), pki.ca.clone()),
    )
    .unwrap();
    assert_eq!(other.join().unwrap(), Ok(vec!["made remotely".to_string()]));
    // A plain client is refused at once, with the reason.
    let plain = BaseManager::new()
        .address(manager.address().clone())
        .authkey(b"tls key")
        .connect();
    assert!(
        matches!(&plain, Err(Error::Connect(mp_pipe::Error::Tls(why))) if why.contains("requires TLS")),
        "{plain:?}"
    );
    assert_eq!(list.len().unwrap(), 2);
}
