//! Remote managers over TCP: the right key works from another process, a
//! wrong key is refused on both sides, TCP without a key is refused.

use mp_manager::{BaseManager, Error, Manager, QueueProxy, Registrar, Registry, ServerObject};
use mp_pipe::Address;
use mp_process::StartMethod;

use crate::{DEADLINE, PATIENCE};

struct QueueManager;

impl Registry for QueueManager {
    fn register(registrar: &mut Registrar) {
        registrar
            .register("get_queue", ServerObject::queue())
            .register("get_replies", ServerObject::queue());
    }
}

fn remote_producer(address: Address, key: Vec<u8>, n: u32) -> Result<String, String> {
    let manager = BaseManager::new()
        .address(address)
        .authkey(&key)
        .connect()
        .map_err(|e| e.to_string())?;
    let queue: QueueProxy<String> = manager.get("get_queue").map_err(|e| e.to_string())?;
    for i in 0..n {
        queue
            .put(&format!("hello {i}"))
            .map_err(|e| e.to_string())?;
    }
    let replies: QueueProxy<String> = manager.get("get_replies").map_err(|e| e.to_string())?;
    replies.get_timeout(PATIENCE).map_err(|e| e.to_string())
}

fn wrong_key_client(address: Address) -> String {
    match BaseManager::new()
        .address(address)
        .authkey(b"not the key")
        .connect()
    {
        Ok(_) => "connected".to_string(),
        Err(Error::Authentication(_)) => "authentication error".to_string(),
        Err(e) => format!("other error: {e}"),
    }
}

#[test]
fn a_remote_manager_over_tcp_serves_the_right_key_and_refuses_a_wrong_one() {
    let _d = mp_testkit::deadline(DEADLINE);
    let key = b"abracadabra".to_vec();
    let server = BaseManager::new()
        .address(Address::localhost(0))
        .authkey(&key)
        .registry::<QueueManager>()
        .start()
        .unwrap();
    let Address::Tcp(bound) = server.address().clone() else {
        panic!("not TCP: {}", server.address())
    };
    assert!(bound.ip().is_loopback());
    assert_ne!(bound.port(), 0);

    let producer = mp_process::Context::new(StartMethod::Spawn)
        .spawn(remote_producer, (server.address().clone(), key.clone(), 10))
        .unwrap();
    let queue: QueueProxy<String> = server.get("get_queue").unwrap();
    for i in 0..10 {
        assert_eq!(queue.get_timeout(PATIENCE).unwrap(), format!("hello {i}"));
    }
    let replies: QueueProxy<String> = server.get("get_replies").unwrap();
    replies.put("thanks").unwrap();
    assert_eq!(producer.join().unwrap(), Ok("thanks".to_string()));

    let refused_before = server.debug_info().unwrap().refused;
    let wrong = mp_process::spawn(wrong_key_client, (server.address().clone(),)).unwrap();
    assert_eq!(wrong.join().unwrap(), "authentication error");
    assert!(matches!(
        Manager::connect(server.address(), b"also wrong"),
        Err(Error::Authentication(_))
    ));
    // The server saw both refusals (the failure is on both sides) and keeps serving.
    assert!(mp_testkit::eventually(PATIENCE, || {
        server.debug_info().unwrap().refused >= refused_before + 2
    }));
    queue.put("still here").unwrap();
    assert_eq!(queue.get().unwrap(), "still here");
}

#[test]
fn tcp_without_a_key_is_refused() {
    let _d = mp_testkit::deadline(DEADLINE);
    let start = BaseManager::new()
        .address(Address::localhost(0))
        .no_authkey()
        .start();
    assert!(matches!(start, Err(Error::InsecureTcp)));
    let server = BaseManager::new()
        .address(Address::localhost(0))
        .no_authkey()
        .get_server();
    assert!(matches!(server, Err(Error::InsecureTcp)));
    let connect = BaseManager::new()
        .address(Address::localhost(1))
        .no_authkey()
        .connect();
    assert!(matches!(connect, Err(Error::InsecureTcp)));
    // A Unix socket without a key is allowed (file permissions guard it).
    let manager = BaseManager::new().no_authkey().start().unwrap();
    manager.list_from([1]).unwrap();
    // Nothing listens there: a clear connect error, not a hang.
    let nowhere = Manager::connect(Address::unique(), b"key");
    assert!(matches!(nowhere, Err(Error::Connect(_))), "{nowhere:?}");
}

fn unix_client(address: Address, key: Vec<u8>) -> u32 {
    let manager = Manager::connect(&address, &key).unwrap();
    let queue: QueueProxy<u32> = manager.get("get_queue").unwrap();
    queue.put(&42).unwrap();
    queue.qsize().unwrap() as u32
}

/// A manager on a Unix socket path: used from another process, and the
/// socket file is gone after shutdown (so the path can be bound again).
#[test]
fn a_manager_on_a_unix_socket_path() {
    let _d = mp_testkit::deadline(DEADLINE);
    let path = std::env::temp_dir().join(format!("mp-manager-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let key = b"unix key".to_vec();
    for _ in 0..2 {
        let manager = BaseManager::new()
            .address(Address::Unix(path.clone()))
            .authkey(&key)
            .registry::<QueueManager>()
            .start()
            .unwrap();
        assert_eq!(manager.address(), &Address::Unix(path.clone()));
        assert!(path.exists());
        let child =
            mp_process::spawn(unix_client, (manager.address().clone(), key.clone())).unwrap();
        assert_eq!(child.join().unwrap(), 1);
        manager.shutdown().unwrap();
        assert!(!path.exists());
    }
}

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn errors_are_send_sync_and_convert_to_io_errors() {
    let _d = mp_testkit::deadline(DEADLINE);
    assert_send_sync::<Error>();
    let io: std::io::Error = Error::ManagerClosed.into();
    assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::Empty);
    assert_eq!(boxed.to_string(), "the queue is empty");
}

/// An empty authkey is refused everywhere with mp-pipe's error (it used to
/// mean "no key" on a Unix socket, silently).
#[test]
fn an_empty_authkey_is_refused_everywhere() {
    let _d = mp_testkit::deadline(DEADLINE);
    let pipe_error = match mp_pipe::Listener::bind(Address::unique(), Some(b"")) {
        Err(mp_pipe::Error::Authentication(why)) => why,
        other => panic!("{other:?}"),
    };
    for address in [Address::unique(), Address::localhost(0)] {
        let base = || BaseManager::new().address(address.clone()).authkey(b"");
        for result in [
            base().start().map(drop),
            base().get_server().map(drop),
            base().connect().map(drop),
        ] {
            match result {
                Err(Error::Authentication(why)) => assert_eq!(why, pipe_error),
                other => panic!("{address}: {other:?}"),
            }
        }
    }
}
