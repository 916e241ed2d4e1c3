//! `spawn` and `JoinHandle`: values, panics and deaths come back to `join`.

use super::*;

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn panics_with(msg: String) -> u32 {
    mp_testkit::panic_quietly(msg)
}

fn exits_instead(code: i32) -> u32 {
    std::process::exit(code)
}

fn sleeps_then(ms: u64, value: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    value
}

fn waits_then(release: Connection, value: u32) -> u32 {
    release.recv::<()>().unwrap();
    value
}

fn make_pipe() -> (Connection, Connection) {
    pipe().unwrap()
}

#[test]
fn join_returns_the_value_or_says_why_not() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let ctx = Context::new(m);
        assert_eq!(ctx.spawn(add, (2, 40)).unwrap().join().unwrap(), 42, "{m}");
        match ctx
            .spawn(panics_with, ("a panic message".into(),))
            .unwrap()
            .join()
        {
            Err(JoinError::Panicked(msg)) => assert_eq!(msg, "a panic message"),
            other => panic!("{m}: {other:?}"),
        }
        assert!(
            matches!(
                ctx.spawn(exits_instead, (3,)).unwrap().join(),
                Err(JoinError::Died { exitcode: 3 })
            ),
            "{m}"
        );
        let h = ctx.spawn(sleeps_then, (60_000, 1)).unwrap();
        h.process().kill().unwrap();
        assert!(
            matches!(h.join(), Err(JoinError::Died { exitcode: -9 })),
            "{m}"
        );
    }
}

#[test]
fn join_timeout_can_be_retried() {
    let _d = deadline(30 * SECS);
    let (release, theirs) = pipe().unwrap();
    let mut h = mp_process::spawn(waits_then, (theirs, 7)).unwrap();
    assert!(matches!(
        h.join_timeout(Duration::from_millis(20)),
        Err(JoinError::Timeout)
    ));
    assert!(!h.is_finished());
    release.send(&()).unwrap();
    assert_eq!(h.join_timeout(T).unwrap(), 7);
    assert!(matches!(h.join_timeout(T), Err(JoinError::AlreadyJoined)));
}

#[test]
fn a_returned_value_may_hold_os_handles() {
    let _d = deadline(30 * SECS);
    for m in methods() {
        let (a, b) = Context::new(m)
            .spawn(make_pipe, ())
            .unwrap()
            .join()
            .unwrap();
        a.send(&m.to_string()).unwrap();
        assert_eq!(b.recv_timeout::<String>(T).unwrap(), m.to_string());
    }
}
