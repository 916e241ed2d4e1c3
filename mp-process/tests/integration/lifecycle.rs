//! Exit codes, signals, misuse and argument failures of a single child.

use super::*;

/// Forks a child of its own (which ends with code 0 at once), then fails.
/// The grandchild has exited, so whatever it wrote is written.
fn forks_a_child_then_fails() {
    let child = started(Process::new(returns, ()).start_method(StartMethod::Fork));
    assert_eq!(child.join_timeout(T).unwrap(), Some(0));
    mp_testkit::panic_quietly("failing after the grandchild ended");
}

#[test]
fn a_grandchild_does_not_report_its_exit_code_as_its_parents() {
    let _d = deadline(60 * SECS);
    // A forkserver child reports its exit code through a pipe; a child
    // it forks inherits that pipe and must not use it.
    let p =
        started(Process::new(forks_a_child_then_fails, ()).start_method(StartMethod::Forkserver));
    assert_eq!(p.join_timeout(T).unwrap(), Some(1));
}

#[test]
fn exit_codes_follow_python() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let ctx = Context::new(m);
        assert_eq!(
            started(ctx.process(returns, ())).join_timeout(T).unwrap(),
            Some(0),
            "{m}"
        );
        assert_eq!(
            started(ctx.process(panics, ())).join_timeout(T).unwrap(),
            Some(1),
            "{m}"
        );
        assert_eq!(
            started(ctx.process(exits, (3,))).join_timeout(T).unwrap(),
            Some(3),
            "{m}"
        );
        let p = started(ctx.process(sleeps, (60_000,)));
        p.terminate().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(-15), "{m}");
        assert_eq!(p.exitcode(), Some(-15));
        let p = started(ctx.process(sleeps, (60_000,)));
        p.kill().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(-9), "{m}");
        // Signalling an ended process is a no-op, as in Python.
        p.terminate().unwrap();
        // abort() signals the calling thread by its id: right in a
        // forkserver child too (a raw clone, see sys::fork_as_sibling).
        assert_eq!(
            started(ctx.process(std::process::abort, ()))
                .join_timeout(T)
                .unwrap(),
            Some(-6),
            "{m}"
        );
    }
}

fn panic_into(stderr: mp_handle::Fd) {
    rustix::stdio::dup2_stderr(&stderr).unwrap();
    panic!("the message of the panic");
}

#[test]
fn a_panic_message_goes_to_the_childs_stderr() {
    let _d = deadline(30 * SECS);
    for m in methods() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let p = started(Process::new(panic_into, (mp_handle::Fd::from(w),)).start_method(m));
        // Read while the child writes: a long report would fill the pipe.
        let mut text = String::new();
        assert!(
            eventually(T, || {
                let mut buf = [0u8; 4096];
                while mp_pipe::wait(&[&r], Some(Duration::ZERO)).is_ok_and(|r| !r.is_empty()) {
                    match rustix::io::read(&r, &mut buf) {
                        Ok(n) if n > 0 => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                        _ => break,
                    }
                }
                text.contains("the message of the panic") && !p.is_alive()
            }),
            "{m}: stderr was {text:?}"
        );
        assert_eq!(p.join_timeout(T).unwrap(), Some(1));
        assert!(
            text.contains(&format!("Process {}:", p.get_name())),
            "{m}: {text:?}"
        );
    }
}

#[test]
fn misuse_is_a_clear_error() {
    let _d = deadline(30 * SECS);
    let mut p = Process::new(sleeps, (60_000,));
    assert!(matches!(p.join(), Err(Error::NotStarted)));
    assert!(matches!(p.join_timeout(T), Err(Error::NotStarted)));
    assert!(matches!(p.terminate(), Err(Error::NotStarted)));
    assert!(matches!(p.sentinel(), Err(Error::NotStarted)));
    assert!(!p.is_alive());
    assert_eq!((p.pid(), p.exitcode()), (None, None));
    p.start().unwrap();
    assert!(p.is_alive());
    assert!(p.pid().is_some());
    assert!(matches!(p.start(), Err(Error::AlreadyStarted)));
    assert!(matches!(p.set_daemon(true), Err(Error::AlreadyStarted)));
    assert!(matches!(p.close(), Err(Error::StillRunning)));
    p.kill().unwrap();
    p.join_timeout(T).unwrap().unwrap();
    assert!(!p.is_alive());
    p.close().unwrap();
    p.close().unwrap();
    assert!(matches!(p.join(), Err(Error::Closed)));
    assert!(matches!(p.start(), Err(Error::Closed)));
    assert!(matches!(p.kill(), Err(Error::Closed)));
    assert_eq!(p.pid(), None);
}

#[test]
fn join_timeout_returns_none_while_running() {
    let _d = deadline(30 * SECS);
    let p = started(Process::new(sleeps, (60_000,)));
    let start = Instant::now();
    assert_eq!(p.join_timeout(Duration::from_millis(200)).unwrap(), None);
    assert!(start.elapsed() >= Duration::from_millis(200));
    p.kill().unwrap();
    assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
}

#[derive(Serialize)]
struct EncodesOnly;

impl<'de> Deserialize<'de> for EncodesOnly {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this value never decodes"))
    }
}

fn takes(_: EncodesOnly) -> u32 {
    1
}

struct NeverEncodes;

impl Serialize for NeverEncodes {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused"))
    }
}

impl<'de> Deserialize<'de> for NeverEncodes {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(NeverEncodes)
    }
}

fn takes_never(_: NeverEncodes) {}

#[test]
fn argument_encoding_failures_are_errors() {
    let _d = deadline(30 * SECS);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut p = Process::new(takes_never, (NeverEncodes,)).start_method(m);
        assert!(matches!(p.start(), Err(Error::Encode(_))), "{m}");
        assert!(p.pid().is_none(), "nothing started");
        let r = Context::new(m).spawn(takes, (EncodesOnly,)).unwrap().join();
        assert!(
            matches!(&r, Err(JoinError::Failed(why)) if why.contains("decode")),
            "{m}: {r:?}"
        );
    }
    // Under Fork nothing is encoded: the value is simply moved.
    assert_eq!(
        Context::new(StartMethod::Fork)
            .spawn(takes, (EncodesOnly,))
            .unwrap()
            .join()
            .unwrap(),
        1
    );
}

/// Tries to start a child and sends what happened: the error's text, or
/// `None` if the child started.
fn start_a_grandchild(method: StartMethod, out: Connection) {
    let mut p = Process::new(returns, ()).start_method(method);
    let refused = match p.start() {
        Ok(()) => {
            p.join_timeout(T).unwrap();
            None
        }
        Err(e) => {
            assert!(matches!(e, Error::DaemonCannotStartChildren), "{e:?}");
            Some(e.to_string())
        }
    };
    out.send(&refused).unwrap();
}

#[test]
fn a_daemon_may_not_start_children() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        for daemon in [false, true] {
            let (r, w) = pipe().unwrap();
            let p = started(
                Process::new(start_a_grandchild, (m, w))
                    .start_method(m)
                    .daemon(daemon),
            );
            let refused: Option<String> = r.recv_timeout(T).unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
            if daemon {
                assert_eq!(
                    refused.as_deref(),
                    Some("daemonic processes are not allowed to have children"),
                    "{m}"
                );
            } else {
                assert_eq!(refused, None, "{m}: a non-daemon starts children");
            }
        }
    }
}
