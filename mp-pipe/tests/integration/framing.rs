//! Framing: boundaries, sizes, limits, malformed streams, timeouts.

use std::io::Write;

use super::*;

#[test]
fn values_round_trip_both_ways() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    let rec = Record {
        name: "Sam".into(),
        score: 10,
        tags: vec!["x".into()],
    };
    a.send(&rec).unwrap();
    assert_eq!(b.recv::<Record>().unwrap(), rec);
    b.send(&(1u8, -2i64, 3.5f64, "four")).unwrap();
    assert_eq!(
        a.recv::<(u8, i64, f64, String)>().unwrap(),
        (1, -2, 3.5, "four".into())
    );
}

#[test]
fn boundaries_are_kept_and_empty_messages_exist() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    let messages: Vec<Vec<u8>> = (0..200).map(|i| vec![i as u8; i % 7]).collect();
    for m in &messages {
        a.send_bytes(m).unwrap();
    }
    a.send_bytes(b"").unwrap();
    for m in &messages {
        assert_eq!(&b.recv_bytes().unwrap(), m);
    }
    assert_eq!(b.recv_bytes().unwrap(), b"");
    a.send(&()).unwrap();
    b.recv::<()>().unwrap();
}

#[test]
fn a_16_mib_message_round_trips() {
    let _d = deadline(30 * SECS);
    let (a, b) = pipe().unwrap();
    let big: Vec<u8> = (0..16 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let sender = std::thread::spawn({
        let big = big.clone();
        move || {
            a.send_bytes(&big).unwrap();
            a.send(&big).unwrap();
            a
        }
    });
    assert_eq!(b.recv_bytes().unwrap(), big);
    assert_eq!(b.recv::<Vec<u8>>().unwrap(), big);
    sender.join().unwrap();
}

/// A message past 4 GiB really crosses a socket (the length header is
/// 64-bit), and the stream goes on after it. The sender's buffer is
/// calloc'ed zero pages except for markers, so only the receiver's
/// copy costs memory (4 GiB).
#[test]
fn a_message_over_4_gib_round_trips() {
    let _d = deadline(300 * SECS);
    const LEN: usize = (4 << 30) + 4099;
    let markers = [0usize, 1 << 20, u32::MAX as usize, 4 << 30, LEN - 1];
    let (a, b) = pipe().unwrap();
    let sender = std::thread::spawn(move || {
        let mut big = vec![0u8; LEN];
        for (i, &at) in markers.iter().enumerate() {
            big[at] = 0xA0 + i as u8;
        }
        a.send_bytes(&big).unwrap();
        drop(big);
        a.send(&"after").unwrap();
    });
    let mut got = b.recv_bytes().unwrap();
    assert_eq!(got.len(), LEN);
    for (i, &at) in markers.iter().enumerate() {
        assert_eq!(got[at], 0xA0 + i as u8, "marker {i} at byte {at}");
        got[at] = 0;
    }
    // Everything else arrived as zeros (compared a MiB at a time: memcmp
    // is fast even in a debug build).
    let zeros = vec![0u8; 1 << 20];
    for (n, piece) in got.chunks(1 << 20).enumerate() {
        assert!(piece == &zeros[..piece.len()], "corrupt MiB {n}");
    }
    drop(got);
    assert_eq!(b.recv::<String>().unwrap(), "after");
    sender.join().unwrap();
}

#[test]
fn recv_bytes_into_reports_a_short_buffer_with_the_whole_message() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    a.send_bytes(b"hello world").unwrap();
    a.send_bytes(b"hey").unwrap();
    let mut small = [0u8; 4];
    match b.recv_bytes_into(&mut small) {
        Err(Error::BufferTooShort(msg)) => assert_eq!(msg, b"hello world"),
        other => panic!("expected BufferTooShort, got {other:?}"),
    }
    assert_eq!(b.recv_bytes_into(&mut small).unwrap(), 3);
    assert_eq!(&small[..3], b"hey");
}

#[test]
fn recv_bytes_into_times_out_and_loses_nothing() {
    let _d = deadline(10 * SECS);
    let mut buf = [0u8; 8];
    // A pipe's shared ring: nothing sent, then a message.
    let (a, b) = pipe().unwrap();
    let started = Instant::now();
    assert!(matches!(
        b.recv_bytes_into_timeout(&mut buf, SECS / 10),
        Err(Error::Timeout)
    ));
    assert!(started.elapsed() >= SECS / 10);
    a.send_bytes(b"late").unwrap();
    assert_eq!(b.recv_bytes_into_timeout(&mut buf, T).unwrap(), 4);
    assert_eq!(&buf[..4], b"late");
    // A socket: the timeout comes in the middle of a frame, whose first
    // part must be kept for the next call.
    let (conn, mut raw) = raw_pair();
    raw.write_all(&header(6, 0)).unwrap();
    raw.write_all(b"hal").unwrap();
    assert!(matches!(
        conn.recv_bytes_into_timeout(&mut buf, SECS / 10),
        Err(Error::Timeout)
    ));
    raw.write_all(b"ves").unwrap();
    assert_eq!(conn.recv_bytes_into_timeout(&mut buf, T).unwrap(), 6);
    assert_eq!(&buf[..6], b"halves");
}

#[test]
fn a_message_that_does_not_decode_is_consumed_and_the_stream_goes_on() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    a.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    a.send(&"next").unwrap();
    assert!(matches!(b.recv::<String>(), Err(Error::Decode(_))));
    assert_eq!(b.recv::<String>().unwrap(), "next");
}

/// A value of another type is a decode error naming the expected type,
/// never a value read from the message's front (postcard alone reads
/// `"hello"` as the u64 5 and `(1u8, 2u8)` as the u16 1).
#[test]
fn a_value_of_another_type_is_a_decode_error_naming_the_type() {
    let _d = deadline(10 * SECS);
    let (a, b) = pipe().unwrap();
    a.send("hello").unwrap();
    match b.recv::<u64>() {
        Err(Error::Decode(e)) => assert!(e.to_string().contains("`u64`"), "{e}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    a.send(&(1u8, 2u8)).unwrap();
    assert!(matches!(b.recv::<u16>(), Err(Error::Decode(_))));
    a.send(&7u64).unwrap();
    assert_eq!(b.recv::<u64>().unwrap(), 7);
}

#[test]
fn an_encode_error_sends_nothing() {
    let _d = deadline(10 * SECS);
    struct Unserializable;
    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    let (a, b) = pipe().unwrap();
    assert!(matches!(
        a.send(&(1u32, Unserializable)),
        Err(Error::Encode(_))
    ));
    a.send(&7u32).unwrap();
    assert_eq!(b.recv::<u32>().unwrap(), 7);
}

#[test]
fn a_message_over_the_limit_is_skipped_without_corrupting_the_stream() {
    let _d = deadline(10 * SECS);
    let (a, b) = strangers();
    b.set_max_message_size(1000);
    a.send_bytes(&[1; 100]).unwrap();
    a.send_bytes(&vec![2; 200_000]).unwrap();
    a.send_bytes(&[3; 1000]).unwrap();
    let (c, d) = pipe().unwrap();
    a.send(&c).unwrap();
    drop(c);
    assert_eq!(b.recv_bytes().unwrap(), [1; 100]);
    match b.recv_bytes() {
        Err(Error::MessageTooLarge { len, limit }) => assert_eq!((len, limit), (200_000, 1000)),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert_eq!(b.recv_bytes().unwrap(), [3; 1000]);
    let c: Connection = b.recv().unwrap();
    d.send(&5u8).unwrap();
    assert_eq!(c.recv::<u8>().unwrap(), 5);
}

#[test]
fn a_refused_message_carrying_descriptors_closes_them() {
    let _d = deadline(10 * SECS);
    let (a, b) = strangers();
    b.set_max_message_size(16);
    let (x, y) = pipe().unwrap();
    a.send(&(x, vec![0u8; 64])).unwrap();
    a.send(&1u8).unwrap();
    assert!(matches!(
        b.recv::<(Connection, Vec<u8>)>(),
        Err(Error::MessageTooLarge { .. })
    ));
    assert_eq!(b.recv::<u8>().unwrap(), 1);
    // The only other copy of `x` was dropped with the refused message.
    assert!(matches!(y.recv::<u8>(), Err(Error::Eof)));
}

#[test]
fn a_header_announcing_an_absurd_length_is_refused() {
    let _d = deadline(10 * SECS);
    let (conn, mut raw) = raw_pair();
    conn.set_max_message_size(1 << 20);
    raw.write_all(&header(u64::MAX, 0)).unwrap();
    assert!(matches!(
        conn.recv_bytes(),
        Err(Error::MessageTooLarge { len: u64::MAX, .. })
    ));
    drop(raw);
    assert!(matches!(conn.recv_bytes(), Err(Error::Truncated)));
    assert!(matches!(conn.recv_bytes(), Err(Error::Eof)));
}

#[test]
fn a_peer_closing_mid_message_is_truncated_then_eof() {
    let _d = deadline(10 * SECS);
    let (conn, mut raw) = raw_pair();
    raw.write_all(&header(10, 0)).unwrap();
    raw.write_all(b"only5").unwrap();
    drop(raw);
    assert!(matches!(conn.recv_bytes(), Err(Error::Truncated)));
    assert!(matches!(conn.recv_bytes(), Err(Error::Eof)));
}

#[test]
fn a_message_announcing_descriptors_that_never_came_is_a_protocol_error() {
    let _d = deadline(10 * SECS);
    let (conn, mut raw) = raw_pair();
    raw.write_all(&header(1, 2)).unwrap();
    raw.write_all(b"x").unwrap();
    raw.write_all(&header(1, 0)).unwrap();
    raw.write_all(b"y").unwrap();
    assert!(matches!(conn.recv_bytes(), Err(Error::Protocol(_))));
    assert_eq!(conn.recv_bytes().unwrap(), b"y");
}

#[test]
fn a_message_arriving_in_pieces_survives_timeouts() {
    let _d = deadline(10 * SECS);
    let (conn, mut raw) = raw_pair();
    let payload = vec![7u8; 100_000];
    raw.write_all(&header(payload.len() as u64, 0)).unwrap();
    raw.write_all(&payload[..30_000]).unwrap();
    assert!(matches!(
        conn.recv_bytes_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    raw.write_all(&payload[30_000..]).unwrap();
    assert_eq!(conn.recv_bytes_timeout(T).unwrap(), payload);
}

#[test]
fn recv_timeout_waits_at_least_the_timeout() {
    let _d = deadline(10 * SECS);
    let (_a, b) = pipe().unwrap();
    let start = Instant::now();
    assert!(matches!(
        b.recv_timeout::<u8>(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
fn send_timeout_on_a_full_peer_times_out_cleanly_or_marks_the_stream_torn() {
    let _d = deadline(20 * SECS);
    // A socket connection (not a pipe): a torn stream stays torn.
    let (a, b) = strangers();
    fill_and_drain(&a, &b);
    let big = vec![0u8; 8 << 20];
    assert!(matches!(
        a.send_bytes_timeout(&big, Duration::from_millis(50)),
        Err(Error::Torn)
    ));
    assert!(matches!(a.send(&1u8), Err(Error::Torn)));
}

#[test]
fn a_pipe_drops_a_torn_message_and_goes_on() {
    let _d = deadline(20 * SECS);
    let (a, b) = pipe().unwrap();
    fill_and_drain(&a, &b);
    // A large message that cannot fit times out mid-write: torn for the
    // sender, dropped by the receiver, and the pipe goes on.
    let big = vec![0u8; 8 << 20];
    assert!(matches!(
        a.send_bytes_timeout(&big, Duration::from_millis(50)),
        Err(Error::Torn)
    ));
    a.send(&1u8).unwrap();
    assert!(matches!(b.recv_timeout::<u8>(T), Err(Error::Torn)));
    assert_eq!(b.recv_timeout::<u8>(T).unwrap(), 1);
    // And the socket takes large messages again (sent from another
    // thread: more than the socket holds).
    let sender = std::thread::spawn(move || a.send_bytes(&big[..1 << 20]).unwrap());
    assert_eq!(b.recv_bytes_timeout(T).unwrap().len(), 1 << 20);
    sender.join().unwrap();
}

/// Sends small messages until a send times out, then checks that the
/// one that timed out wrote nothing: draining gives exactly the messages
/// that were sent, in order.
fn fill_and_drain(a: &Connection, b: &Connection) {
    let mut sent = 0u32;
    while a.send_timeout(&sent, Duration::from_millis(20)).is_ok() {
        sent += 1;
    }
    for i in 0..sent {
        assert_eq!(b.recv_timeout::<u32>(T).unwrap(), i);
    }
    assert!(matches!(
        b.recv_timeout::<u32>(Duration::from_millis(10)),
        Err(Error::Timeout)
    ));
}

#[test]
fn more_descriptors_than_one_sendmsg_carries_arrive() {
    let _d = deadline(20 * SECS);
    let (a, b) = pipe().unwrap();
    let mut keep = Vec::new();
    let mut send = Vec::new();
    for _ in 0..300 {
        let (x, y) = pipe().unwrap();
        send.push(x);
        keep.push(y);
    }
    a.send(&send).unwrap();
    drop(send);
    let got: Vec<Connection> = b.recv().unwrap();
    assert_eq!(got.len(), 300);
    for (i, (x, y)) in got.iter().zip(&keep).enumerate() {
        x.send(&(i as u32)).unwrap();
        assert_eq!(y.recv::<u32>().unwrap(), i as u32);
    }
}

#[test]
fn eintr_is_retried() {
    #![allow(unsafe_code)]
    use std::os::unix::thread::JoinHandleExt;
    let _d = deadline(10 * SECS);
    extern "C" fn on_signal(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing, without SA_RESTART,
    // so a blocked recvmsg returns EINTR.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut());
    }
    let (a, b) = pipe().unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        b.recv::<u64>().unwrap()
    });
    let tid = tid_rx.recv().unwrap();
    // Each signal lands while the reader sleeps in the kernel, waiting.
    let asleep = || thread_state(tid) == Some('S');
    for _ in 0..20 {
        assert!(
            mp_testkit::eventually(T, asleep),
            "the reader never blocked"
        );
        // SAFETY: signals a live thread of this process with a handled signal.
        unsafe { libc::pthread_kill(reader.as_pthread_t(), libc::SIGUSR2) };
    }
    a.send(&42u64).unwrap();
    assert_eq!(reader.join().unwrap(), 42);
}

/// The scheduler state of thread `tid` of this process (`S`: asleep).
fn thread_state(tid: libc::pid_t) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}
