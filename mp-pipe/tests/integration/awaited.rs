//! `recv_async` under tokio's current-thread runtime: one thread, so a
//! receive that blocked it would stop every other task (among them the
//! one that tells the peer to send) and the test would hang until its
//! deadline.

use super::*;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap()
}

/// For each count received on `go`, sends that many small messages (ring
/// messages on a pipe: only the doorbell makes the socket readable); at
/// end of file on `go`, one large message (a socket message), and returns.
fn send_when_told(go: Connection, out: Connection) {
    while let Ok(n) = go.recv::<u32>() {
        for i in 0..n {
            out.send(&i).unwrap();
        }
    }
    out.send_bytes(&vec![7u8; 100_000]).unwrap();
}

#[test]
fn an_awaited_receive_leaves_the_executor_free() {
    let _d = deadline(60 * SECS);
    let (go_r, go_w) = pipe().unwrap();
    let (mut data_r, data_w) = pipe().unwrap();
    let mut p = Process::new(send_when_told, (go_r, data_w));
    p.start().unwrap();
    let go_w = std::sync::Arc::new(go_w);
    current_thread().block_on(async {
        for round in 1..=3u32 {
            // Runs only if the receive below gives the thread back.
            let go = std::sync::Arc::clone(&go_w);
            let teller = tokio::spawn(async move { go.send(&round).unwrap() });
            for i in 0..round {
                assert_eq!(data_r.recv_async::<u32>().await.unwrap(), i);
            }
            teller.await.unwrap();
        }
        drop(go_w);
        let big = data_r.recv_bytes_async().await.unwrap();
        assert_eq!(big, vec![7u8; 100_000]);
        assert!(matches!(data_r.recv_async::<u32>().await, Err(Error::Eof)));
    });
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}

/// Sends `n` messages as fast as it can, every 100th a socket message.
fn flood(out: Connection, n: u32) {
    for i in 0..n {
        if i % 100 == 99 {
            out.send_bytes(&vec![(i % 251) as u8; 40_000]).unwrap();
        } else {
            out.send_bytes(&i.to_le_bytes()).unwrap();
        }
    }
}

#[test]
fn a_flood_from_a_child_is_received_whole_and_in_order() {
    let _d = deadline(60 * SECS);
    let (mut r, w) = pipe().unwrap();
    let n = 5_000u32;
    let mut p = Process::new(flood, (w, n));
    p.start().unwrap();
    current_thread().block_on(async {
        for i in 0..n {
            let bytes = r.recv_bytes_async().await.unwrap();
            if i % 100 == 99 {
                assert_eq!(bytes, vec![(i % 251) as u8; 40_000], "message {i}");
            } else {
                assert_eq!(bytes, i.to_le_bytes(), "message {i}");
            }
        }
        assert!(matches!(r.recv_bytes_async().await, Err(Error::Eof)));
    });
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}

#[test]
fn a_socket_connection_is_received_on_readiness() {
    let _d = deadline(30 * SECS);
    let (mut a, b) = strangers();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    // A blocking sender on its own thread (a large send waits for the
    // receiver to drain the socket), started by a task of the runtime.
    let sender = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        b.send(&"late").unwrap();
        b.send_bytes(&vec![1u8; 300_000]).unwrap();
    });
    current_thread().block_on(async {
        tokio::spawn(async move { go_tx.send(()).unwrap() });
        assert_eq!(a.recv_async::<String>().await.unwrap(), "late");
        assert_eq!(a.recv_bytes_async().await.unwrap().len(), 300_000);
        assert!(matches!(a.recv_async::<u8>().await, Err(Error::Eof)));
    });
    sender.join().unwrap();
}

#[test]
fn a_receive_dropped_mid_wait_loses_nothing() {
    let _d = deadline(30 * SECS);
    let (mut r, w) = pipe().unwrap();
    let rt = current_thread();
    rt.block_on(async {
        let early = tokio::time::timeout(Duration::from_millis(30), r.recv_async::<u8>()).await;
        assert!(early.is_err(), "nothing was sent");
    });
    w.send(&5u8).unwrap();
    // A blocking receive still works after the dropped await.
    assert_eq!(r.recv_timeout::<u8>(T).unwrap(), 5);
    let mut p = Process::new(flood, (w, 300));
    p.start().unwrap();
    rt.block_on(async {
        for i in 0..300u32 {
            let bytes = r.recv_bytes_async().await.unwrap();
            assert_eq!(bytes.len(), if i % 100 == 99 { 40_000 } else { 4 });
        }
    });
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}

#[test]
fn two_handles_of_one_end_share_a_flood_between_two_tasks() {
    let _d = deadline(60 * SECS);
    let (r, w) = pipe().unwrap();
    let n = 3_000u32;
    let mut p = Process::new(flood, (w, n));
    p.start().unwrap();
    let counts = current_thread().block_on(async {
        let tasks: Vec<_> = [r.try_clone().unwrap(), r]
            .into_iter()
            .map(|mut conn| {
                tokio::spawn(async move {
                    let (mut small, mut large) = (0u32, 0u32);
                    loop {
                        match conn.recv_bytes_async().await {
                            Ok(bytes) if bytes.len() == 4 => small += 1,
                            Ok(bytes) => {
                                assert_eq!(bytes.len(), 40_000);
                                large += 1;
                            }
                            Err(Error::Eof) => return (small, large),
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        let mut counts = (0, 0);
        for task in tasks {
            let (small, large) = task.await.unwrap();
            counts = (counts.0 + small, counts.1 + large);
        }
        counts
    });
    assert_eq!(counts, (n - n / 100, n / 100));
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}
