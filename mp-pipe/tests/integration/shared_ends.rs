//! One end of a pipe used by several processes at once (Python's tutorials
//! warn that this corrupts a pipe): every message arrives whole, each
//! sender's order is kept, under every start method, and a sender killed
//! in the middle of a message costs only that message.

use super::*;

/// Sender `id`'s message `seq`: large ones (socket path) every third.
fn message(id: u32, seq: u32) -> (u32, u32, Vec<u8>) {
    let len = if seq % 3 == 0 {
        200_000 + seq as usize
    } else {
        40 + seq as usize
    };
    (id, seq, vec![(id * 31 + seq) as u8; len])
}

fn whole(msg: &(u32, u32, Vec<u8>)) -> bool {
    *msg == message(msg.0, msg.1)
}

fn send_messages(conn: Connection, id: u32, count: u32) {
    for seq in 0..count {
        conn.send(&message(id, seq)).unwrap();
    }
}

#[test]
fn children_sending_on_clones_of_one_end_never_corrupt_it() {
    let _d = deadline(120 * SECS);
    for method in StartMethod::ALL {
        let (ours, theirs) = pipe().unwrap();
        let senders = 3;
        let count = 60;
        let mut children: Vec<Process> = (0..senders)
            .map(|id| {
                let mut p = Process::new(send_messages, (theirs.try_clone().unwrap(), id, count))
                    .start_method(method);
                p.start().unwrap();
                p
            })
            .collect();
        drop(theirs);
        let mut next = vec![0u32; senders as usize];
        for _ in 0..senders * count {
            let msg: (u32, u32, Vec<u8>) = ours.recv_timeout(T).unwrap();
            assert!(
                whole(&msg),
                "{method}: a message from {} arrived torn",
                msg.0
            );
            assert_eq!(
                msg.1, next[msg.0 as usize],
                "{method}: sender {}'s order",
                msg.0
            );
            next[msg.0 as usize] += 1;
        }
        for p in &mut children {
            assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{method}");
        }
        assert!(
            matches!(ours.recv_timeout::<u8>(T), Err(Error::Eof)),
            "{method}"
        );
    }
}

fn receive_until_stop(conn: Connection, out: Connection) {
    let mut got = Vec::new();
    loop {
        let msg: (u32, u32, Vec<u8>) = conn.recv_timeout(T).unwrap();
        if msg.0 == u32::MAX {
            break;
        }
        assert!(whole(&msg), "torn");
        got.push(msg.1);
    }
    out.send(&got).unwrap();
}

#[test]
fn children_receiving_from_clones_of_one_end_each_get_whole_messages() {
    let _d = deadline(120 * SECS);
    for method in StartMethod::ALL {
        let (ours, theirs) = pipe().unwrap();
        let (out_r, out_w) = pipe().unwrap();
        let readers = 3;
        let mut children: Vec<Process> = (0..readers)
            .map(|_| {
                let args = (theirs.try_clone().unwrap(), out_w.try_clone().unwrap());
                let mut p = Process::new(receive_until_stop, args).start_method(method);
                p.start().unwrap();
                p
            })
            .collect();
        let count = 90;
        for seq in 0..count {
            ours.send(&message(0, seq)).unwrap();
        }
        for _ in 0..readers {
            ours.send(&(u32::MAX, 0u32, Vec::<u8>::new())).unwrap();
        }
        let mut all: Vec<u32> = Vec::new();
        for _ in 0..readers {
            let got: Vec<u32> = out_r.recv_timeout(T).unwrap();
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "{method}: order per reader"
            );
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (0..count).collect::<Vec<_>>(),
            "{method}: each message once"
        );
        for p in &mut children {
            assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{method}");
        }
    }
}

fn send_large_forever(conn: Connection, id: u32) {
    for seq in 0u32.. {
        // Mostly large: a sender is likely in the middle of one.
        let len = if seq % 4 == 3 { 50 } else { 400_000 };
        let msg = (id, seq, vec![(id * 31 + seq) as u8; len]);
        if conn.send(&msg).is_err() {
            return;
        }
        if id == 1 && seq == 30 {
            return;
        }
    }
}

fn is_whole(msg: &(u32, u32, Vec<u8>)) -> bool {
    msg.2.iter().all(|&x| x == (msg.0 * 31 + msg.1) as u8)
}

#[test]
fn a_sender_killed_mid_message_costs_only_that_message() {
    let _d = deadline(120 * SECS);
    for method in StartMethod::ALL {
        let (ours, theirs) = pipe().unwrap();
        // Sender 0 runs until killed; sender 1 sends 31 messages and exits.
        let mut doomed = Process::new(send_large_forever, (theirs.try_clone().unwrap(), 0u32))
            .start_method(method);
        let mut survivor = Process::new(send_large_forever, (theirs, 1u32)).start_method(method);
        doomed.start().unwrap();
        survivor.start().unwrap();
        let mut next = [0u32; 2];
        let mut torn = 0;
        let mut killed = false;
        loop {
            match ours.recv_timeout::<(u32, u32, Vec<u8>)>(T) {
                Ok(msg) => {
                    assert!(
                        is_whole(&msg),
                        "{method}: sender {} message {}",
                        msg.0,
                        msg.1
                    );
                    assert_eq!(msg.1, next[msg.0 as usize], "{method}: order of {}", msg.0);
                    next[msg.0 as usize] += 1;
                }
                Err(Error::Torn) => torn += 1,
                Err(Error::Eof) => break,
                Err(e) => panic!("{method}: {e}"),
            }
            if !killed && next[0] >= 5 {
                doomed.kill().unwrap();
                assert_eq!(doomed.join_timeout(T).unwrap(), Some(-9));
                killed = true;
            }
        }
        assert!(killed);
        assert_eq!(next[1], 31, "{method}: every message of the survivor");
        assert!(torn <= 1, "{method}: {torn} torn messages");
        assert_eq!(survivor.join_timeout(T).unwrap(), Some(0));
    }
}

fn send_one_huge(conn: Connection, ready: Connection) {
    ready.send(&()).unwrap();
    // Far more than the socket holds: the child blocks in the middle of it.
    let _ = conn.send_bytes(&vec![9u8; 16 << 20]);
}

#[test]
fn a_writer_killed_mid_message_is_torn_and_the_pipe_goes_on() {
    let _d = deadline(60 * SECS);
    for method in StartMethod::ALL {
        let (ours, theirs) = pipe().unwrap();
        let (ready_r, ready_w) = pipe().unwrap();
        // This process keeps a live copy of the writing end: no end of
        // file will come to settle the matter.
        let mut p = Process::new(send_one_huge, (theirs.try_clone().unwrap(), ready_w))
            .start_method(method);
        p.start().unwrap();
        ready_r.recv_timeout::<()>(T).unwrap();
        let pid = p.pid().unwrap();
        let blocked = || mp_testkit::proc_info(pid).is_some_and(|i| i.state == 'S');
        assert!(
            mp_testkit::eventually(T, blocked),
            "{method}: never blocked"
        );
        p.kill().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
        assert!(
            matches!(ours.recv_bytes_timeout(T), Err(Error::Torn)),
            "{method}: the cut message is reported torn"
        );
        theirs.send(&"after").unwrap();
        theirs.send_bytes(&[7u8; 100_000]).unwrap();
        assert_eq!(ours.recv_timeout::<String>(T).unwrap(), "after", "{method}");
        assert_eq!(
            ours.recv_bytes_timeout(T).unwrap(),
            [7u8; 100_000],
            "{method}"
        );
    }
}
