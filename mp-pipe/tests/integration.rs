//! mp-pipe on real sockets and real child processes.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mp_pipe::{Address, Client, Connection, Error, Listener, pipe, pipe_simplex, wait};
use mp_process::{Process, StartMethod};
use mp_testkit::deadline;
use serde::{Deserialize, Serialize};

const SECS: Duration = Duration::from_secs(1);
const T: Duration = Duration::from_secs(10);

/// A connection whose peer is a raw socket, for writing malformed streams.
fn raw_pair() -> (Connection, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (Connection::from(a), b)
}

fn header(len: u64, nfds: u32) -> Vec<u8> {
    let mut h = len.to_le_bytes().to_vec();
    h.extend_from_slice(&nfds.to_le_bytes());
    h
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    score: u32,
    tags: Vec<String>,
}

mod framing {
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
        let (a, b) = pipe().unwrap();
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
        let (a, b) = pipe().unwrap();
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
        let (a, b) = pipe().unwrap();
        // Fill the socket buffer with small messages until a send would block.
        let mut sent = 0u32;
        while a.send_timeout(&sent, Duration::from_millis(20)).is_ok() {
            sent += 1;
        }
        // Nothing was written by the send that timed out: draining gives
        // exactly the messages that were sent, in order.
        for i in 0..sent {
            assert_eq!(b.recv_timeout::<u32>(T).unwrap(), i);
        }
        // A large message that cannot fit times out mid-write: torn.
        let big = vec![0u8; 8 << 20];
        assert!(matches!(
            a.send_bytes_timeout(&big, Duration::from_millis(50)),
            Err(Error::Torn)
        ));
        assert!(matches!(a.send(&1u8), Err(Error::Torn)));
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
        let reader = std::thread::spawn(move || b.recv::<u64>().unwrap());
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..20 {
            // SAFETY: signals a live thread of this process with a handled signal.
            unsafe { libc::pthread_kill(reader.as_pthread_t(), libc::SIGUSR2) };
            std::thread::sleep(Duration::from_millis(5));
        }
        a.send(&42u64).unwrap();
        assert_eq!(reader.join().unwrap(), 42);
    }
}

mod ends {
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
}

mod processes {
    use super::*;

    fn echo(conn: Connection) {
        while let Ok(msg) = conn.recv::<String>() {
            conn.send(&format!("echo: {msg}")).unwrap();
        }
    }

    #[test]
    fn a_connection_is_a_child_argument_under_every_start_method() {
        let _d = deadline(30 * SECS);
        for method in StartMethod::ALL {
            let (ours, theirs) = pipe().unwrap();
            let mut p = Process::new(echo, (theirs,)).start_method(method);
            p.start().unwrap();
            ours.send(&method.to_string()).unwrap();
            assert_eq!(
                ours.recv_timeout::<String>(T).unwrap(),
                format!("echo: {method}")
            );
            drop(ours);
            assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{method}");
        }
    }

    fn block_in_recv(conn: Connection, ready: Connection) {
        ready.send(&()).unwrap();
        let _ = conn.recv::<u8>();
        std::process::exit(7);
    }

    #[test]
    fn a_child_killed_mid_recv_is_eof_for_the_parent() {
        let _d = deadline(30 * SECS);
        for method in StartMethod::ALL {
            let (ours, theirs) = pipe().unwrap();
            let (ready_r, ready_w) = pipe().unwrap();
            let mut p = Process::new(block_in_recv, (theirs, ready_w)).start_method(method);
            p.start().unwrap();
            ready_r.recv_timeout::<()>(T).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            p.kill().unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
            assert!(matches!(ours.recv_timeout::<u8>(T), Err(Error::Eof)));
            assert!(ours.send(&1u8).is_err(), "sending to a dead peer fails");
        }
    }

    fn sender(conn: Connection, msgs: Vec<String>) {
        for m in msgs {
            conn.send(&m).unwrap();
        }
    }

    fn receiver(conn: Connection, out: Connection) {
        loop {
            let msg: String = conn.recv().unwrap();
            if msg == "END" {
                break;
            }
            out.send(&msg).unwrap();
        }
    }

    #[test]
    fn the_tutorial_pipe_between_two_children() {
        let _d = deadline(30 * SECS);
        let (parent_conn, child_conn) = pipe().unwrap();
        let (out_r, out_w) = pipe_simplex().unwrap();
        let msgs: Vec<String> = ["hello", "hey", "hru?", "END"].map(String::from).to_vec();
        let mut p1 = Process::new(sender, (parent_conn, msgs));
        let mut p2 = Process::new(receiver, (child_conn, out_w));
        p1.start().unwrap();
        p2.start().unwrap();
        for want in ["hello", "hey", "hru?"] {
            assert_eq!(out_r.recv_timeout::<String>(T).unwrap(), want);
        }
        assert_eq!(p1.join_timeout(T).unwrap(), Some(0));
        assert_eq!(p2.join_timeout(T).unwrap(), Some(0));
        assert!(matches!(out_r.recv_timeout::<String>(T), Err(Error::Eof)));
    }

    #[test]
    fn wait_returns_ready_connections_and_ended_processes() {
        let _d = deadline(30 * SECS);
        let (a1, b1) = pipe().unwrap();
        let (_a2, b2) = pipe().unwrap();
        assert!(
            wait(&[&b1, &b2], Some(Duration::from_millis(50)))
                .unwrap()
                .is_empty()
        );
        a1.send(&1u8).unwrap();
        assert_eq!(wait(&[&b1, &b2], Some(T)).unwrap(), [0]);
        fn quick() {}
        let mut p = Process::new(quick, ());
        p.start().unwrap();
        let ready = wait(&[&b2, &p], Some(T)).unwrap();
        assert_eq!(ready, [1]);
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        let unstarted = Process::new(quick, ());
        assert!(wait(&[&unstarted], Some(Duration::ZERO)).is_err());
    }
}

mod listeners {
    use super::*;

    fn serve_once(listener: Listener) -> std::thread::JoinHandle<Result<String, Error>> {
        std::thread::spawn(move || {
            let conn = listener.accept_timeout(T)?;
            let msg: String = conn.recv_timeout(T)?;
            conn.send(&format!("got {msg}"))?;
            Ok(msg)
        })
    }

    fn round_trip(address: Address, server_key: Option<&[u8]>, client_key: Option<&[u8]>) {
        let listener = Listener::bind(address, server_key).unwrap();
        let address = listener.address().clone();
        let server = serve_once(listener);
        let conn = Client::builder(address).timeout(T);
        let conn = match client_key {
            Some(k) => conn.authkey(k),
            None => conn,
        }
        .connect_now()
        .unwrap();
        conn.send(&"hi").unwrap();
        assert_eq!(conn.recv_timeout::<String>(T).unwrap(), "got hi");
        assert_eq!(server.join().unwrap().unwrap(), "hi");
    }

    fn temp_path(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("mp-test-{}-{tag}.sock", std::process::id()))
    }

    #[test]
    fn unix_path_abstract_and_tcp_listeners_work_with_a_key() {
        let _d = deadline(30 * SECS);
        let path = temp_path("ok");
        round_trip(Address::Unix(path.clone()), Some(b"k1"), Some(b"k1"));
        assert!(
            !path.exists(),
            "the socket file is removed when the listener closes"
        );
        round_trip(Address::unique(), Some(b"k2"), Some(b"k2"));
        round_trip(Address::unique(), None, None);
        round_trip(Address::localhost(0), Some(b"k3"), Some(b"k3"));
    }

    fn wrong_key(address: Address) {
        let listener = Listener::bind(address, Some(b"right")).unwrap();
        let address = listener.address().clone();
        let server = serve_once(listener);
        let client = Client::builder(address)
            .authkey(b"wrong")
            .timeout(T)
            .connect_now();
        assert!(
            matches!(client, Err(Error::Authentication(_))),
            "{client:?}"
        );
        assert!(matches!(
            server.join().unwrap(),
            Err(Error::Authentication(_))
        ));
    }

    #[test]
    fn a_wrong_key_fails_on_both_sides_over_tcp_and_unix() {
        let _d = deadline(30 * SECS);
        wrong_key(Address::localhost(0));
        wrong_key(Address::unique());
        wrong_key(Address::Unix(temp_path("wrong")));
    }

    #[test]
    fn a_missing_key_fails_on_both_sides() {
        let _d = deadline(30 * SECS);
        let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
        let address = listener.address().clone();
        let server = serve_once(listener);
        let client = Client::builder(address).timeout(T).connect_now();
        assert!(
            matches!(client, Err(Error::Authentication(_))),
            "{client:?}"
        );
        assert!(matches!(
            server.join().unwrap(),
            Err(Error::Authentication(_))
        ));
        // And a client with a key refuses a server without one.
        let listener = Listener::bind(Address::unique(), None).unwrap();
        let address = listener.address().clone();
        let _server = serve_once(listener);
        let client = Client::builder(address)
            .authkey(b"k")
            .timeout(T)
            .connect_now();
        assert!(
            matches!(client, Err(Error::Authentication(_))),
            "{client:?}"
        );
    }

    #[test]
    fn a_wrong_key_does_not_stop_the_listener() {
        let _d = deadline(30 * SECS);
        let listener = Listener::bind(Address::unique(), Some(b"right")).unwrap();
        let address = listener.address().clone();
        let server = std::thread::spawn(move || {
            let first = listener.accept_timeout(T);
            let second = listener
                .accept_timeout(T)
                .and_then(|c| c.recv_timeout::<u32>(T));
            (first.is_err(), second)
        });
        assert!(
            Client::builder(address.clone())
                .authkey(b"bad")
                .timeout(T)
                .connect_now()
                .is_err()
        );
        let conn = Client::builder(address)
            .authkey(b"right")
            .timeout(T)
            .connect_now()
            .unwrap();
        conn.send(&5u32).unwrap();
        let (first_failed, second) = server.join().unwrap();
        assert!(first_failed);
        assert_eq!(second.unwrap(), 5);
    }

    #[test]
    fn tcp_without_a_key_is_refused_unless_allowed() {
        let _d = deadline(30 * SECS);
        assert!(matches!(
            Listener::bind(Address::localhost(0), None),
            Err(Error::InsecureTcp)
        ));
        assert!(matches!(
            Client::connect(&Address::localhost(1), None),
            Err(Error::InsecureTcp)
        ));
        let listener = Listener::builder(Address::localhost(0))
            .allow_insecure_tcp(true)
            .bind()
            .unwrap();
        let address = listener.address().clone();
        let server = serve_once(listener);
        let conn = Client::builder(address)
            .allow_insecure_tcp(true)
            .timeout(T)
            .connect_now()
            .unwrap();
        conn.send(&"plain").unwrap();
        assert_eq!(conn.recv_timeout::<String>(T).unwrap(), "got plain");
        server.join().unwrap().unwrap();
    }

    #[test]
    fn binding_an_address_twice_is_an_error() {
        let _d = deadline(30 * SECS);
        let first = Listener::bind(Address::localhost(0), Some(b"k")).unwrap();
        assert!(Listener::bind(first.address().clone(), Some(b"k")).is_err());
        let abs = Listener::bind(Address::unique(), None).unwrap();
        assert!(Listener::bind(abs.address().clone(), None).is_err());
        let path = temp_path("twice");
        let unix = Listener::bind(Address::Unix(path.clone()), None).unwrap();
        assert!(Listener::bind(Address::Unix(path.clone()), None).is_err());
        drop(unix);
        assert!(!path.exists());
        // After a clean close the address is free again.
        drop(Listener::bind(Address::Unix(path.clone()), None).unwrap());
    }

    #[test]
    fn last_accepted_is_the_peer_address() {
        let _d = deadline(30 * SECS);
        let listener = Listener::bind(Address::localhost(0), Some(b"k")).unwrap();
        assert_eq!(listener.last_accepted(), None);
        let address = listener.address().clone();
        let client = std::thread::spawn(move || Client::connect(&address, Some(b"k")).unwrap());
        let _conn = listener.accept_timeout(T).unwrap();
        let conn = client.join().unwrap();
        let Some(Address::Tcp(peer)) = listener.last_accepted() else {
            panic!("no TCP peer")
        };
        assert!(peer.ip().is_loopback());
        assert_ne!(peer.port(), 0);
        drop(conn);
    }

    #[test]
    fn accept_and_connect_time_out() {
        let _d = deadline(30 * SECS);
        let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
        let start = Instant::now();
        assert!(matches!(
            listener.accept_timeout(Duration::from_millis(100)),
            Err(Error::Timeout)
        ));
        assert!(start.elapsed() >= Duration::from_millis(100));
        // A peer that connects and never speaks cannot hold accept past its deadline.
        let Address::Abstract(name) = listener.address().clone() else {
            unreachable!()
        };
        let silent = std::os::unix::net::UnixStream::connect_addr(
            &<std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(&name).unwrap(),
        )
        .unwrap();
        assert!(listener.accept_timeout(Duration::from_millis(200)).is_err());
        drop(silent);
        // A client whose server never answers gives up.
        let mute = Listener::builder(Address::unique()).bind().unwrap();
        let start = Instant::now();
        let r = Client::builder(mute.address().clone())
            .authkey(b"x")
            .timeout(Duration::from_millis(150))
            .connect_now();
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        assert!(start.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn garbage_before_authentication_is_refused_without_harm() {
        let _d = deadline(30 * SECS);
        let listener = Listener::bind(Address::unique(), Some(b"k")).unwrap();
        let Address::Abstract(name) = listener.address().clone() else {
            unreachable!()
        };
        let addr = <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(&name).unwrap();
        let mut garbage = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
        garbage.write_all(&header(1 << 40, 0)).unwrap();
        garbage.write_all(&[0xAB; 64]).unwrap();
        assert!(matches!(
            listener.accept_timeout(T),
            Err(Error::Authentication(_))
        ));
        let address = listener.address().clone();
        let client = std::thread::spawn(move || Client::connect(&address, Some(b"k")).unwrap());
        let conn = listener.accept_timeout(T).unwrap();
        client.join().unwrap().send(&1u8).unwrap();
        assert_eq!(conn.recv_timeout::<u8>(T).unwrap(), 1);
    }

    #[test]
    fn closing_a_listener_stops_accepting() {
        let _d = deadline(10 * SECS);
        let mut listener = Listener::bind(Address::unique(), None).unwrap();
        listener.close();
        listener.close();
        assert!(matches!(
            listener.accept_timeout(Duration::ZERO),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn connections_from_a_listener_have_a_size_limit() {
        let _d = deadline(30 * SECS);
        let listener = Listener::builder(Address::unique())
            .max_message_size(64)
            .bind()
            .unwrap();
        let address = listener.address().clone();
        let client = std::thread::spawn(move || {
            let conn = Client::connect(&address, None).unwrap();
            conn.send_bytes(&[0; 65]).unwrap();
            conn.send_bytes(&[1; 64]).unwrap();
            conn
        });
        let conn = listener.accept_timeout(T).unwrap();
        assert!(matches!(
            conn.recv_bytes_timeout(T),
            Err(Error::MessageTooLarge { len: 65, limit: 64 })
        ));
        assert_eq!(conn.recv_bytes_timeout(T).unwrap(), [1; 64]);
        drop(client.join().unwrap());
        assert_eq!(mp_pipe::DEFAULT_MAX_MESSAGE_SIZE, 1 << 30);
    }

    #[test]
    fn tcp_connections_cannot_carry_handles() {
        let _d = deadline(30 * SECS);
        let listener = Listener::bind(Address::localhost(0), Some(b"k")).unwrap();
        let address = listener.address().clone();
        let client = std::thread::spawn(move || Client::connect(&address, Some(b"k")).unwrap());
        let _server = listener.accept_timeout(T).unwrap();
        let conn = client.join().unwrap();
        let (x, _y) = pipe().unwrap();
        assert!(matches!(conn.send(&x), Err(Error::HandlesNotSupported)));
        conn.send(&1u8).unwrap();
    }
}
