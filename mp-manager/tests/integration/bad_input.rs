//! Bad input is an error for the client that sent it; the server keeps
//! serving everyone else.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use mp_manager::{BaseManager, Error, ListProxy, Manager, ValueProxy};
use mp_pipe::{Address, Client};

use crate::{DEADLINE, PATIENCE};

fn keep_appending(list: ListProxy<u64>, n: u64) -> u64 {
    for i in 0..n {
        list.append(&i).unwrap();
    }
    n
}

/// Connects to the manager's abstract address without mp-pipe.
fn raw_unix(address: &Address) -> UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let Address::Abstract(name) = address else {
        panic!("expected an abstract address, got {address}")
    };
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
    UnixStream::connect_addr(&addr).unwrap()
}

#[test]
fn a_client_sending_garbage_does_not_disturb_the_others() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let address = manager.address().clone();
    let key = mp_process::current_process().authkey().to_vec();
    let list = manager.list::<u64>().unwrap();
    let done = AtomicBool::new(false);

    std::thread::scope(|s| {
        // A well-behaved thread and a well-behaved child process keep working
        // all along.
        let worker = s.spawn(|| {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                list.append(&n).unwrap();
                n += 1;
            }
            n
        });
        let child = mp_process::spawn(keep_appending, (list.clone(), 200)).unwrap();

        // 1. Authenticated, but garbage inside well-formed frames: each gets
        // an error reply and the connection stays usable.
        let conn = Client::connect(&address, Some(&key)).unwrap();
        for garbage in [&b"\xff\xfe\xfd garbage"[..], b"", &[0x07; 64][..]] {
            conn.send_bytes(garbage).unwrap();
            let reply = conn.recv_bytes_timeout(PATIENCE).unwrap();
            assert!(!reply.is_empty());
        }

        // 2. A frame header announcing 1 TiB: refused before any of it is
        // read; the server answers and drops that connection only.
        let conn = Client::connect(&address, Some(&key)).unwrap();
        let mut header = Vec::new();
        header.extend_from_slice(&(1u64 << 40).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        let mut raw = UnixStream::from(conn.as_fd().try_clone_to_owned().unwrap());
        raw.write_all(&header).unwrap();
        let reply = conn.recv_bytes_timeout(PATIENCE).unwrap();
        assert!(!reply.is_empty());
        assert!(matches!(
            conn.recv_bytes_timeout(PATIENCE),
            Err(mp_pipe::Error::Eof)
        ));

        // 3. Not the handshake at all: dropped.
        let mut junk = raw_unix(&address);
        junk.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = junk.write_all(b"GET / HTTP/1.1\r\n\r\n");
        let mut sink = Vec::new();
        let _ = junk.read_to_end(&mut sink);

        // 4. Peers that connect and say nothing hold an acceptor for at
        // most the handshake timeout; new clients still get in.
        let silent: Vec<UnixStream> = (0..2).map(|_| raw_unix(&address)).collect();
        let other = Manager::connect(&address, &key).unwrap();
        let fresh = other.list_from([1u8]).unwrap();
        assert_eq!(fresh.len().unwrap(), 1);
        drop(silent);

        // 5. A wrong key on a raw client.
        assert!(matches!(
            Client::connect(&address, Some(b"wrong")),
            Err(mp_pipe::Error::Authentication(_))
        ));

        assert_eq!(child.join().unwrap(), 200);
        done.store(true, Ordering::Relaxed);
        let appended = worker.join().unwrap();
        assert_eq!(list.len().unwrap() as u64, appended + 200);
    });
}

/// An oversized request fails for its caller with `MessageTooLarge`; the
/// same proxy keeps working afterwards (on a new connection).
#[test]
fn an_oversized_request_is_refused_for_that_caller_only() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = BaseManager::new()
        .max_message_size(64 << 10)
        .start()
        .unwrap();
    let list = manager.list::<Vec<u8>>().unwrap();
    let result = list.append(&vec![0u8; 100 << 10]);
    assert!(
        matches!(result, Err(Error::MessageTooLarge { limit, .. }) if limit == 64 << 10),
        "{result:?}"
    );
    list.append(&vec![1u8; 10]).unwrap();
    assert_eq!(list.to_vec().unwrap(), [vec![1u8; 10]]);
}

/// Unknown object ids and values of the wrong type are errors for that
/// call; the server and the other proxies carry on.
#[test]
fn unknown_objects_and_wrong_types_are_errors_for_that_call() {
    let _d = mp_testkit::deadline(DEADLINE);
    let manager = Manager::start().unwrap();
    let base = manager.number_of_objects().unwrap();

    // A value holding a string, seen through a proxy typed for i64.
    let text = manager.value(&"not a number".to_string()).unwrap();
    let (bytes, fds) = mp_handle::encode(&text).unwrap();
    let as_number: ValueProxy<i64> = mp_handle::decode(&bytes, fds).unwrap();
    assert!(matches!(
        as_number.fetch_add(1),
        Err(Error::WrongType { .. })
    ));
    assert!(matches!(as_number.get(), Err(Error::Decode(_))));
    assert_eq!(text.get().unwrap(), "not a number");

    // A token whose object is gone: its proxy reports the unknown id.
    let list = manager.list::<u32>().unwrap();
    let (bytes, fds) = mp_handle::encode(&list).unwrap();
    assert!(fds.is_empty());
    let adopted: ListProxy<u32> = mp_handle::decode(&bytes, Vec::new()).unwrap();
    drop((list, adopted, text, as_number));
    assert!(mp_testkit::eventually(PATIENCE, || {
        manager.number_of_objects().unwrap() == base
    }));
    let stale: ListProxy<u32> = mp_handle::decode(&bytes, Vec::new()).unwrap();
    assert!(matches!(stale.append(&1), Err(Error::UnknownObject(_))));

    // A token of one kind decoded as another kind of proxy is refused.
    let dict = manager.dict::<u32, u32>().unwrap();
    let (bytes, fds) = mp_handle::encode(&dict).unwrap();
    assert!(mp_handle::decode::<ListProxy<u32>>(&bytes, fds).is_err());

    // Everything else still works.
    let fine = manager.list_from([1, 2, 3]).unwrap();
    assert_eq!(fine.len().unwrap(), 3);
}
