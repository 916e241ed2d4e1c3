//! The shared-memory fast path of `pipe()`: readiness (`wait`, `poll`),
//! end of file, order between ring and socket messages, messages larger
//! than the ring, timeouts, and corrupt streams.

use super::*;

/// Messages as the fast path sees them: small ones go through the ring,
/// large ones (over 16 KiB) through the socket.
fn body(seq: u32, len: usize) -> Vec<u8> {
    vec![seq as u8; len]
}

/// Whether the process `pid` sleeps (past its spin, in `poll`).
fn asleep(pid: u32) -> bool {
    mp_testkit::proc_info(pid).is_some_and(|i| i.state == 'S')
}

fn wait_then_report(conns: Vec<Connection>, out: Connection) {
    let refs: Vec<&dyn mp_pipe::Waitable> = conns.iter().map(|c| c as _).collect();
    let ready = wait(&refs, Some(T)).unwrap();
    out.send(&ready).unwrap();
}

#[test]
fn wait_wakes_for_a_message_in_the_ring() {
    let _d = deadline(30 * SECS);
    let (a1, b1) = pipe().unwrap();
    let (a2, b2) = pipe().unwrap();
    let (out_r, out_w) = pipe().unwrap();
    let mut p = Process::new(wait_then_report, (vec![b1, b2], out_w));
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert!(mp_testkit::eventually(T, || asleep(pid)), "never slept");
    // A small message: it goes through the ring, and the doorbell wakes
    // the sleeper in `wait`.
    a2.send(&7u8).unwrap();
    // Well before the child's own timeout (T): woken, not timed out.
    assert_eq!(out_r.recv_timeout::<Vec<usize>>(T / 2).unwrap(), [1]);
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    drop(a1);
}

#[test]
fn wait_sees_ring_messages_sent_before_it_and_times_out_without_them() {
    let _d = deadline(30 * SECS);
    let (a1, b1) = pipe().unwrap();
    let (a2, b2) = pipe().unwrap();
    let empty = wait(&[&b1, &b2], Some(Duration::from_millis(50))).unwrap();
    assert!(empty.is_empty());
    a1.send(&1u8).unwrap();
    a2.send(&2u8).unwrap();
    assert_eq!(wait(&[&b1, &b2], Some(T)).unwrap(), [0, 1]);
    assert_eq!(b1.recv::<u8>().unwrap(), 1);
    assert_eq!(wait(&[&b1, &b2], Some(T)).unwrap(), [1]);
    assert_eq!(b2.recv::<u8>().unwrap(), 2);
    // Nothing left, not even a stale doorbell, makes `wait` report a pipe.
    let t = Instant::now();
    assert!(
        wait(&[&b1, &b2], Some(Duration::from_millis(100)))
            .unwrap()
            .is_empty()
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
}

fn recv_one_then_exit(conn: Connection, ready: Connection) {
    ready.send(&()).unwrap();
    let _ = conn.recv_timeout::<u8>(T);
}

fn poll_then_recv_one(conn: Connection, ready: Connection) {
    ready.send(&()).unwrap();
    assert!(conn.poll(T).unwrap());
    let _ = conn.recv_timeout::<u8>(T);
}

#[test]
fn a_doorbell_for_a_message_another_reader_took_is_no_readiness() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    let (ready_r, ready_w) = pipe().unwrap();
    // A second reader of the same end, asleep in poll: the doorbell that
    // wakes it is its to drain, not left for this end to trip over.
    let mut p = Process::new(poll_then_recv_one, (b.try_clone().unwrap(), ready_w));
    p.start().unwrap();
    ready_r.recv_timeout::<()>(T).unwrap();
    let pid = p.pid().unwrap();
    assert!(mp_testkit::eventually(T, || asleep(pid)), "never slept");
    a.send(&1u8).unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    // The child took the message: this end has nothing.
    assert!(!b.poll(Duration::from_millis(50)).unwrap());
    assert!(
        wait(&[&b], Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty()
    );
    a.send(&2u8).unwrap();
    assert!(b.poll(T).unwrap());
    assert_eq!(b.recv::<u8>().unwrap(), 2);
}

fn send_when_asked(conn: Connection, ask: Connection) {
    while let Ok(n) = ask.recv::<u32>() {
        conn.send(&body(n, n as usize)).unwrap();
    }
}

#[test]
fn poll_reports_ring_and_socket_messages_and_waits_for_them() {
    let _d = deadline(30 * SECS);
    let (ours, theirs) = pipe().unwrap();
    let (ask, ask_theirs) = pipe().unwrap();
    let mut p = Process::new(send_when_asked, (theirs, ask_theirs));
    p.start().unwrap();
    assert!(!ours.poll(Duration::ZERO).unwrap());
    assert!(!ours.poll(Duration::from_millis(20)).unwrap());
    for n in [8u32, 100_000] {
        ask.send(&n).unwrap();
        assert!(ours.poll(T).unwrap(), "{n} bytes");
        assert!(ours.poll(Duration::ZERO).unwrap(), "still there");
        assert_eq!(ours.recv::<Vec<u8>>().unwrap(), body(n, n as usize));
        assert!(!ours.poll(Duration::ZERO).unwrap(), "taken");
    }
    drop(ask);
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    assert!(ours.poll(T).unwrap(), "end of file is readable");
    assert!(matches!(ours.recv::<u8>(), Err(Error::Eof)));
}

fn send_then_exit(conn: Connection, sizes: Vec<usize>) {
    for (i, len) in sizes.into_iter().enumerate() {
        conn.send(&body(i as u32, len)).unwrap();
    }
}

#[test]
fn eof_after_the_peer_exits_comes_after_every_message() {
    let _d = deadline(30 * SECS);
    for method in StartMethod::ALL {
        let (ours, theirs) = pipe().unwrap();
        let sizes = vec![1, 40_000, 3, 16 * 1024, 16 * 1024 + 1, 0, 2 << 20, 5];
        let mut p = Process::new(send_then_exit, (theirs, sizes.clone())).start_method(method);
        p.start().unwrap();
        for (i, &len) in sizes.iter().enumerate() {
            let got: Vec<u8> = ours.recv_timeout(T).unwrap();
            assert_eq!(got, body(i as u32, len), "{method}: message {i}");
        }
        assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{method}");
        assert!(matches!(ours.recv_timeout::<Vec<u8>>(T), Err(Error::Eof)));
        assert!(
            ours.send(&1u8).is_err(),
            "{method}: sending to a gone peer fails"
        );
    }
}

fn send_forever(conn: Connection) {
    for i in 0u32.. {
        let len = if i % 3 == 2 { 300_000 } else { 64 };
        if conn.send(&(i, body(i, len))).is_err() {
            return;
        }
    }
}

#[test]
fn a_sender_killed_mid_stream_leaves_whole_messages_then_eof() {
    let _d = deadline(60 * SECS);
    for method in StartMethod::ALL {
        let (ours, theirs) = pipe().unwrap();
        let mut p = Process::new(send_forever, (theirs,)).start_method(method);
        p.start().unwrap();
        for want in 0..20u32 {
            let (i, b): (u32, Vec<u8>) = ours.recv_timeout(T).unwrap();
            assert_eq!((i, b.iter().all(|&x| x == i as u8)), (want, true));
        }
        // Killed while it writes (a large message fills the socket, so it
        // is blocked in the middle of one).
        p.kill().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
        let mut next = 20u32;
        let mut cut = 0;
        loop {
            match ours.recv_timeout::<(u32, Vec<u8>)>(T) {
                Ok((i, b)) => {
                    assert_eq!(i, next, "{method}: order");
                    assert!(b.iter().all(|&x| x == i as u8), "{method}: whole");
                    next += 1;
                }
                Err(Error::Torn | Error::Truncated) => cut += 1,
                Err(Error::Eof) => break,
                Err(e) => panic!("{method}: {e}"),
            }
        }
        assert!(cut <= 1, "{method}: {cut} cut messages");
    }
}

#[test]
fn a_peer_killed_in_recv_is_eof_and_a_full_ring_send_fails() {
    let _d = deadline(30 * SECS);
    let (ours, theirs) = pipe().unwrap();
    let (ready_r, ready_w) = pipe().unwrap();
    let mut p = Process::new(recv_one_then_exit, (theirs, ready_w));
    p.start().unwrap();
    ready_r.recv_timeout::<()>(T).unwrap();
    p.kill().unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
    // Nothing learned yet: small sends fill the ring, then fail.
    let mut failed = None;
    for i in 0..100_000u32 {
        if let Err(e) = ours.send_timeout(&i, T) {
            failed = Some(e);
            break;
        }
    }
    assert!(
        matches!(&failed, Some(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe),
        "{failed:?}"
    );
    assert!(matches!(ours.recv_timeout::<u8>(T), Err(Error::Eof)));
}

#[test]
fn handle_messages_and_ring_messages_keep_their_order() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    let mut keep = Vec::new();
    for i in 0..60u32 {
        if i % 3 == 0 {
            let (x, y) = pipe().unwrap();
            a.send(&(i, Some(x))).unwrap();
            keep.push((i, y));
        } else {
            a.send(&(i, None::<Connection>)).unwrap();
        }
    }
    let mut ends = keep.into_iter();
    for want in 0..60u32 {
        let (i, conn): (u32, Option<Connection>) = b.recv_timeout(T).unwrap();
        assert_eq!(i, want);
        assert_eq!(conn.is_some(), i % 3 == 0);
        if let Some(conn) = conn {
            let (j, peer) = ends.next().unwrap();
            assert_eq!(i, j);
            conn.send(&i).unwrap();
            assert_eq!(peer.recv_timeout::<u32>(T).unwrap(), i);
        }
    }
}

#[test]
fn messages_around_and_beyond_the_ring_size_arrive_whole() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    let sender = std::thread::spawn(move || {
        for (i, len) in [
            16 * 1024 - 8,
            16 * 1024,
            16 * 1024 + 1,
            64 * 1024,
            1 << 20,
            9 << 20,
        ]
        .into_iter()
        .enumerate()
        {
            a.send_bytes(&body(i as u32, len)).unwrap();
            a.send(&(i as u32)).unwrap();
        }
    });
    for (i, len) in [
        16 * 1024 - 8,
        16 * 1024,
        16 * 1024 + 1,
        64 * 1024,
        1 << 20,
        9 << 20,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(b.recv_bytes_timeout(T).unwrap(), body(i as u32, len));
        assert_eq!(b.recv_timeout::<u32>(T).unwrap(), i as u32);
    }
    sender.join().unwrap();
}

#[test]
fn receive_timeouts_lose_nothing_on_either_path() {
    let _d = deadline(60 * SECS);
    let (a, b) = pipe().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..40u32 {
            let len = if i % 4 == 0 { 3 << 20 } else { 100 };
            a.send(&(i, body(i, len))).unwrap();
        }
    });
    let mut timeouts = 0;
    let mut next = 0u32;
    while next < 40 {
        match b.recv_timeout::<(u32, Vec<u8>)>(Duration::from_micros(200)) {
            Ok((i, body)) => {
                assert_eq!(i, next);
                assert!(body.iter().all(|&x| x == i as u8));
                next += 1;
            }
            Err(Error::Timeout) => timeouts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    sender.join().unwrap();
    // Large messages arrive in pieces: the receiver timed out in the
    // middle of some of them and still got them whole.
    assert!(timeouts > 0);
}

#[test]
fn a_send_that_times_out_on_a_full_ring_wrote_nothing() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    let mut sent = 0u32;
    while a
        .send_timeout(&body(sent, 1000), Duration::from_millis(10))
        .is_ok()
    {
        sent += 1;
    }
    assert!(sent > 10, "the ring holds some");
    for i in 0..sent {
        assert_eq!(b.recv_timeout::<Vec<u8>>(T).unwrap(), body(i, 1000));
    }
    assert!(matches!(
        b.recv_timeout::<Vec<u8>>(Duration::from_millis(10)),
        Err(Error::Timeout)
    ));
    // The ring has room again.
    a.send(&1u8).unwrap();
    assert_eq!(b.recv_timeout::<u8>(T).unwrap(), 1);
}

#[test]
fn limits_are_shared_through_the_ring_and_across_processes() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    b.set_max_message_size(100);
    assert_eq!(a.peer_max_message_size(), Some(100));
    assert!(matches!(
        a.send_bytes(&[0; 101]),
        Err(Error::MessageTooLarge {
            len: 101,
            limit: 100
        })
    ));
    a.send_bytes(&[1; 100]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), [1; 100]);
    // A copy of `b` that travelled (as a value) sets the same limit.
    let (x, y) = pipe().unwrap();
    x.send(&b).unwrap();
    let b2: Connection = y.recv().unwrap();
    b2.set_max_message_size(50);
    assert_eq!(a.peer_max_message_size(), Some(50));
}

#[test]
fn an_absurd_frame_header_is_a_named_corrupt_stream() {
    let _d = deadline(10 * SECS);
    use std::io::Write;
    let (conn, mut raw) = raw_pair();
    raw.write_all(&header(144_680_345_676_153_346, 0)).unwrap();
    raw.write_all(b"garbage").unwrap();
    match conn.recv_bytes_timeout(T) {
        Err(Error::Corrupt(why)) => assert!(why.contains("144680345676153346"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_zero_timeout_receive_sees_end_of_file() {
    let _d = deadline(10 * SECS);
    let (r, w) = pipe().unwrap();
    w.send(&1u8).unwrap();
    drop(w);
    assert!(r.poll(Duration::ZERO).unwrap());
    assert_eq!(r.recv_timeout::<u8>(Duration::ZERO).unwrap(), 1);
    // `poll` says a receive would not wait: it must not time out.
    assert!(r.poll(Duration::ZERO).unwrap());
    assert!(matches!(
        r.recv_timeout::<u8>(Duration::ZERO),
        Err(Error::Eof)
    ));
}

/// Sends its text on `conn` while it is itself being serialized.
struct Relay<'a> {
    conn: &'a Connection,
    text: &'static str,
}

impl Serialize for Relay<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.conn
            .send(&self.text)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_str("outer")
    }
}

#[test]
fn a_value_that_sends_while_it_is_encoded_sends_both_whole() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    a.send(&Relay {
        conn: &a,
        text: "inner",
    })
    .unwrap();
    a.send(&"after").unwrap();
    for want in ["inner", "outer", "after"] {
        assert_eq!(b.recv_timeout::<String>(T).unwrap(), want);
    }
}

/// Sends a goodbye when dropped.
struct Goodbye(Connection);

impl Drop for Goodbye {
    fn drop(&mut self) {
        self.0.send(&"goodbye").unwrap();
    }
}

#[test]
fn a_thread_locals_destructor_can_send() {
    let _d = deadline(10 * SECS);
    thread_local! {
        static LAST_WORDS: std::cell::RefCell<Option<Goodbye>> = const { std::cell::RefCell::new(None) };
    }
    let (a, b) = pipe().unwrap();
    std::thread::spawn(move || {
        // Registered before the sender's own thread-locals, so destroyed
        // after them: the goodbye is sent from a thread whose send buffer
        // is already gone.
        LAST_WORDS.with(|w| *w.borrow_mut() = Some(Goodbye(a.try_clone().unwrap())));
        a.send(&"hello").unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(b.recv_timeout::<String>(T).unwrap(), "hello");
    assert_eq!(b.recv_timeout::<String>(T).unwrap(), "goodbye");
}
