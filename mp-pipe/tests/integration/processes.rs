//! Connections as arguments of real child processes, and `wait`.

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
        // Killed while it sleeps in recv.
        let pid = p.pid().unwrap();
        let asleep = || mp_testkit::proc_info(pid).is_some_and(|i| i.state == 'S');
        assert!(mp_testkit::eventually(T, asleep), "{method}: never blocked");
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
