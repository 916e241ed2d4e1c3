//! The ends of a pipe: directions, close, poll, cloning, travel.

use super::*;

#[test]
fn simplex_ends_refuse_the_wrong_direction() {
    let _d = deadline(10 * SECS);
    let (r, w) = pipe_simplex().unwrap();
    assert!(matches!(r.send(&1u8), Err(Error::NotWritable)));
    assert!(matches!(w.recv::<u8>(), Err(Error::NotReadable)));
    assert!(matches!(w.poll(Duration::ZERO), Err(Error::NotReadable)));
    w.send(&9u8).unwrap();
    assert_eq!(r.recv::<u8>().unwrap(), 9);
    assert!(r.readable() && !r.writable() && w.writable() && !w.readable());
}

#[test]
fn close_makes_every_call_an_error_and_the_peer_sees_eof_after_draining() {
    let _d = deadline(10 * SECS);
    let (mut a, b) = pipe().unwrap();
    a.send(&1u8).unwrap();
    a.send(&2u8).unwrap();
    a.close();
    a.close();
    assert!(a.closed());
    assert!(matches!(a.send(&1u8), Err(Error::Closed)));
    assert!(matches!(a.recv::<u8>(), Err(Error::Closed)));
    assert!(matches!(a.poll(Duration::ZERO), Err(Error::Closed)));
    assert!(matches!(a.fileno(), Err(Error::Closed)));
    assert_eq!(b.recv::<u8>().unwrap(), 1);
    assert!(b.poll(Duration::ZERO).unwrap());
    assert_eq!(b.recv::<u8>().unwrap(), 2);
    assert!(b.poll(Duration::ZERO).unwrap(), "EOF is readable");
    assert!(matches!(b.recv::<u8>(), Err(Error::Eof)));
    assert!(matches!(b.recv::<u8>(), Err(Error::Eof)));
}

#[test]
fn poll_reports_data_and_waits_for_it() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    assert!(!b.poll(Duration::ZERO).unwrap());
    let start = Instant::now();
    assert!(!b.poll(Duration::from_millis(100)).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(100));
    a.send(&[1u8, 2]).unwrap();
    a.send(&[3u8, 4]).unwrap();
    assert!(b.poll(T).unwrap());
    assert_eq!(b.recv::<[u8; 2]>().unwrap(), [1, 2]);
    // The second message is already buffered in user space.
    assert!(b.poll(Duration::ZERO).unwrap());
    assert_eq!(b.recv::<[u8; 2]>().unwrap(), [3, 4]);
}

#[test]
fn a_connection_travels_over_a_connection() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    let (x, y) = pipe().unwrap();
    a.send(&("here", x)).unwrap();
    let (word, x): (String, Connection) = b.recv().unwrap();
    assert_eq!(word, "here");
    x.send(&"through").unwrap();
    assert_eq!(y.recv::<String>().unwrap(), "through");
}

#[test]
fn a_connection_cannot_be_encoded_outside_a_transport() {
    let _d = deadline(10 * SECS);
    let (a, _b) = pipe().unwrap();
    assert!(mp_handle::encode(&a).is_ok());
    assert!(
        postcard::to_allocvec(&a).is_err(),
        "a bare descriptor number must never be sent"
    );
}

#[test]
fn try_clone_shares_the_stream() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    let a2 = a.try_clone().unwrap();
    drop(a);
    a2.send(&3u8).unwrap();
    assert_eq!(b.recv::<u8>().unwrap(), 3);
}

#[test]
fn sends_from_many_threads_never_interleave() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    let a = std::sync::Arc::new(a);
    let senders: Vec<_> = (0..4u32)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    a.send(&(t, i, vec![t as u8; 3000])).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u32; 4];
    for _ in 0..2000 {
        let (t, i, body): (u32, u32, Vec<u8>) = b.recv_timeout(T).unwrap();
        assert_eq!(i, next[t as usize], "per-sender order");
        assert!(body.iter().all(|&x| x == t as u8) && body.len() == 3000);
        next[t as usize] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
}
