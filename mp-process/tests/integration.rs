//! mp-process on real child processes, under every start method.

use std::time::{Duration, Instant};

use mp_pipe::{Connection, pipe};
use mp_process::{
    Context, Error, JoinError, Process, Run, StartMethod, active_children, cpu_count,
    current_process, get_start_method, parent_process, set_start_method,
};
use mp_testkit::{deadline, eventually, is_running, proc_info};
use serde::{Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);
const SECS: Duration = Duration::from_secs(1);

fn methods() -> [StartMethod; 3] {
    StartMethod::ALL
}

fn returns() {}

fn panics() {
    panic!("boom in the child");
}

fn exits(code: i32) {
    std::process::exit(code);
}

fn sleeps(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn started(p: Process) -> Process {
    let mut p = p;
    p.start().unwrap();
    p
}

mod lifecycle {
    use super::*;

    /// Forks a child of its own (which ends with code 0 at once), then fails.
    fn forks_a_child_then_fails() {
        let child = started(Process::new(returns, ()).start_method(StartMethod::Fork));
        assert_eq!(child.join_timeout(T).unwrap(), Some(0));
        std::thread::sleep(Duration::from_millis(200));
        panic!("failing after the grandchild ended");
    }

    #[test]
    fn a_grandchild_does_not_report_its_exit_code_as_its_parents() {
        let _d = deadline(60 * SECS);
        // A forkserver child reports its exit code through a pipe; a child
        // it forks inherits that pipe and must not use it.
        let p = started(
            Process::new(forks_a_child_then_fails, ()).start_method(StartMethod::Forkserver),
        );
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
}

mod identity {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Report {
        name: String,
        ident: Vec<u32>,
        daemon: bool,
        pid: u32,
        parent_name: String,
        parent_pid: u32,
        parent_alive: bool,
        authkey: Vec<u8>,
    }

    fn report(out: Connection) {
        let me = current_process();
        let parent = parent_process().expect("a child has a parent");
        out.send(&Report {
            name: me.name().to_owned(),
            ident: me.ident().to_vec(),
            daemon: me.daemon(),
            pid: me.pid(),
            parent_name: parent.name().to_owned(),
            parent_pid: parent.pid(),
            parent_alive: parent.is_alive(),
            authkey: me.authkey().to_vec(),
        })
        .unwrap();
    }

    #[test]
    fn the_main_process_is_main_process() {
        let _d = deadline(10 * SECS);
        let me = current_process();
        assert_eq!(me.name(), "MainProcess");
        assert!(me.ident().is_empty());
        assert_eq!(me.pid(), std::process::id());
        assert_eq!(me.authkey().len(), 32);
        assert!(parent_process().is_none());
        assert!(cpu_count() >= 1);
    }

    #[test]
    fn a_child_knows_itself_and_its_parent() {
        let _d = deadline(30 * SECS);
        let me = current_process();
        for m in methods() {
            let (r, w) = pipe().unwrap();
            let p = started(Process::new(report, (w,)).start_method(m));
            let got: Report = r.recv_timeout(T).unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(0));
            assert_eq!(got.name, p.get_name(), "{m}");
            assert!(got.name.starts_with("Process-"), "{m}: {}", got.name);
            assert_eq!(got.name, format!("Process-{}", got.ident[0]));
            assert_eq!(Some(got.pid), p.pid());
            assert!(!got.daemon);
            assert_eq!(
                (got.parent_name.as_str(), got.parent_pid),
                ("MainProcess", me.pid())
            );
            assert!(got.parent_alive);
            assert_eq!(
                got.authkey,
                me.authkey(),
                "{m}: children inherit the authkey"
            );

            let (r, w) = pipe().unwrap();
            let p = started(
                Process::new(report, (w,))
                    .start_method(m)
                    .name("worker")
                    .daemon(true),
            );
            let got: Report = r.recv_timeout(T).unwrap();
            p.join_timeout(T).unwrap();
            assert_eq!((got.name.as_str(), got.daemon), ("worker", true), "{m}");
            assert!(p.is_daemon());
        }
    }

    fn nest(depth: u32, method: StartMethod, out: Connection) {
        if depth == 0 {
            report(out);
        } else {
            let mut p = Process::new(nest, (depth - 1, method, out)).start_method(method);
            p.start().unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        }
    }

    #[test]
    fn recursive_spawns_get_nested_names() {
        let _d = deadline(60 * SECS);
        for m in methods() {
            let (r, w) = pipe().unwrap();
            let p = started(Process::new(nest, (3, m, w)).start_method(m));
            let got: Report = r.recv_timeout(T).unwrap();
            assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
            let top = p.get_name().trim_start_matches("Process-").to_owned();
            assert_eq!(got.name, format!("Process-{top}:1:1:1"), "{m}");
            assert_eq!(got.ident.len(), 4);
            assert_eq!(got.parent_name, format!("Process-{top}:1:1"), "{m}");
        }
    }

    #[derive(Serialize, Deserialize)]
    struct Producer {
        out: Connection,
        count: u32,
    }

    impl Run for Producer {
        fn run(self) {
            for i in 0..self.count {
                self.out
                    .send(&(current_process().name().to_owned(), i))
                    .unwrap();
            }
        }
    }

    #[test]
    fn a_value_with_run_is_a_process_body() {
        let _d = deadline(30 * SECS);
        for m in methods() {
            let (r, w) = pipe().unwrap();
            let mut p = Context::new(m).process_from_run(Producer { out: w, count: 3 });
            p.start().unwrap();
            for i in 0..3 {
                let (name, n): (String, u32) = r.recv_timeout(T).unwrap();
                assert_eq!((name.as_str(), n), (p.get_name(), i), "{m}");
            }
            assert_eq!(p.join_timeout(T).unwrap(), Some(0));
            let (_r, w) = pipe().unwrap();
            let p: Process = Producer { out: w, count: 0 }.into();
            assert!(p.get_name().starts_with("Process-"));
        }
    }

    fn report_pids(out: Connection) {
        out.send(&(mp_process::pid(), std::process::id())).unwrap();
    }

    #[test]
    fn the_cached_pid_is_right_in_every_child() {
        let _d = deadline(30 * SECS);
        // Cached here before any child exists.
        assert_eq!(mp_process::pid(), std::process::id());
        let (r, w) = pipe().unwrap();
        // A forked copy of this process (the cache included).
        let mut p = Process::from_closure({
            let w = w.try_clone().unwrap();
            move || report_pids(w)
        });
        p.start().unwrap();
        let (cached, real) = r.recv_timeout::<(u32, u32)>(T).unwrap();
        assert_eq!((cached, real), (p.pid().unwrap(), p.pid().unwrap()));
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        for m in StartMethod::ALL {
            let mut p = Process::new(report_pids, (w.try_clone().unwrap(),)).start_method(m);
            p.start().unwrap();
            let (cached, real) = r.recv_timeout::<(u32, u32)>(T).unwrap();
            assert_eq!(cached, real, "{m}");
            assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        }
        assert_eq!(mp_process::pid(), std::process::id());
    }

    #[test]
    fn a_capturing_closure_runs_under_fork_only() {
        let _d = deadline(30 * SECS);
        let captured = [1, 2, 3];
        let (r, w) = pipe().unwrap();
        let mut p = Process::from_closure(move || w.send(&captured.iter().sum::<i32>()).unwrap());
        assert_eq!(p.get_start_method(), StartMethod::Fork);
        p.start().unwrap();
        assert_eq!(r.recv_timeout::<i32>(T).unwrap(), 6);
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        for m in [StartMethod::Spawn, StartMethod::Forkserver] {
            let mut p = Process::from_closure(|| ()).start_method(m);
            assert!(matches!(p.start(), Err(Error::ClosureNeedsFork)), "{m}");
        }
    }

    #[test]
    fn start_methods_and_contexts() {
        let _d = deadline(10 * SECS);
        assert_eq!(
            get_start_method(),
            StartMethod::Forkserver,
            "the default is safe with threads"
        );
        set_start_method(StartMethod::Forkserver).unwrap();
        assert!(matches!(
            set_start_method(StartMethod::Spawn),
            Err(Error::StartMethodAlreadySet(_))
        ));
        for m in methods() {
            assert_eq!(m.name().parse::<StartMethod>().unwrap(), m);
            assert_eq!(Context::new(m).start_method(), m);
            assert_eq!(Context::new(m).process(returns, ()).get_start_method(), m);
        }
        assert!("threads".parse::<StartMethod>().is_err());
        assert_eq!(
            mp_process::get_context(None).start_method(),
            StartMethod::Forkserver
        );
    }
}

mod handles {
    use super::*;

    fn add(a: u64, b: u64) -> u64 {
        a + b
    }

    fn panics_with(msg: String) -> u32 {
        panic!("{msg}")
    }

    fn exits_instead(code: i32) -> u32 {
        std::process::exit(code)
    }

    fn sleeps_then(ms: u64, value: u32) -> u32 {
        std::thread::sleep(Duration::from_millis(ms));
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
        let mut h = mp_process::spawn(sleeps_then, (300, 7)).unwrap();
        assert!(matches!(
            h.join_timeout(Duration::from_millis(20)),
            Err(JoinError::Timeout)
        ));
        assert!(!h.is_finished());
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
}

mod many {
    use super::*;

    #[test]
    fn a_hundred_children_start_and_join_and_none_is_left_a_zombie() {
        let _d = deadline(120 * SECS);
        for (m, n) in [
            (StartMethod::Forkserver, 100),
            (StartMethod::Fork, 100),
            (StartMethod::Spawn, 30),
        ] {
            let procs: Vec<Process> = (0..n)
                .map(|_| started(Context::new(m).process(returns, ())))
                .collect();
            let pids: Vec<u32> = procs.iter().map(|p| p.pid().unwrap()).collect();
            for p in &procs {
                assert_eq!(p.join_timeout(T).unwrap(), Some(0), "{m}");
            }
            for pid in pids {
                assert!(
                    eventually(T, || proc_info(pid).is_none_or(|p| p.state != 'Z')),
                    "{m}: {pid} left as a zombie"
                );
            }
        }
    }

    #[test]
    fn a_hundred_sleeping_children_terminate_with_minus_15() {
        let _d = deadline(120 * SECS);
        let procs: Vec<Process> = (0..100)
            .map(|_| started(Process::new(sleeps, (60_000,))))
            .collect();
        for p in &procs {
            p.terminate().unwrap();
        }
        for p in &procs {
            assert_eq!(p.join_timeout(T).unwrap(), Some(-15));
        }
    }

    #[test]
    fn dropped_children_are_reaped_by_active_children() {
        let _d = deadline(60 * SECS);
        for m in methods() {
            let sleepers: Vec<Process> = (0..3)
                .map(|_| started(Context::new(m).process(sleeps, (60_000,))))
                .collect();
            let quick = started(Context::new(m).process(returns, ()));
            let quick_pid = quick.pid().unwrap();
            drop(quick);
            assert!(eventually(T, || {
                let active: Vec<u32> = active_children().iter().filter_map(Process::pid).collect();
                !active.contains(&quick_pid)
                    && sleepers.iter().all(|s| active.contains(&s.pid().unwrap()))
            }));
            let reaped = || proc_info(quick_pid).is_none_or(|p| p.state != 'Z');
            if m == StartMethod::Forkserver {
                // The forkserver is its parent and reaps it; the child
                // reports its exit code itself, a moment before that.
                assert!(eventually(T, reaped), "{m}: zombie");
            } else {
                assert!(reaped(), "{m}: zombie");
            }
            for s in &sleepers {
                // A handle from active_children can signal and join too.
                let handle = active_children()
                    .into_iter()
                    .find(|p| p.pid() == s.pid())
                    .unwrap();
                handle.terminate().unwrap();
                assert_eq!(handle.join_timeout(T).unwrap(), Some(-15));
            }
        }
    }
}

mod parent_death {
    use super::*;

    fn sleeper_family(method: StartMethod, out: Connection) {
        let daemon = started(
            Process::new(sleeps, (60_000,))
                .start_method(method)
                .daemon(true),
        );
        let other = started(Process::new(sleeps, (60_000,)).start_method(method));
        out.send(&(daemon.pid().unwrap(), other.pid().unwrap()))
            .unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }

    #[test]
    fn children_die_with_a_sigkilled_parent() {
        let _d = deadline(60 * SECS);
        for m in methods() {
            let (r, w) = pipe().unwrap();
            let parent = started(Process::new(sleeper_family, (m, w)).start_method(m));
            let (daemon, other): (u32, u32) = r.recv_timeout(T).unwrap();
            assert!(is_running(daemon) && is_running(other));
            parent.kill().unwrap();
            assert_eq!(parent.join_timeout(T).unwrap(), Some(-9));
            assert!(
                eventually(T, || !is_running(daemon) && !is_running(other)),
                "{m}: orphans left"
            );
        }
    }

    fn exits_normally(method: StartMethod, out: Connection) {
        let daemon = started(
            Process::new(sleeps, (60_000,))
                .start_method(method)
                .daemon(true),
        );
        let other =
            started(Process::new(finishes_late, (out.try_clone().unwrap(),)).start_method(method));
        out.send(&(daemon.pid().unwrap(), other.pid().unwrap()))
            .unwrap();
    }

    fn finishes_late(out: Connection) {
        std::thread::sleep(Duration::from_millis(300));
        out.send(&(0u32, 0u32)).unwrap();
    }

    #[test]
    fn at_exit_daemons_are_terminated_and_the_others_joined() {
        let _d = deadline(60 * SECS);
        for m in methods() {
            let (r, w) = pipe().unwrap();
            let parent = started(Process::new(exits_normally, (m, w)).start_method(m));
            let (daemon, _other): (u32, u32) = r.recv_timeout(T).unwrap();
            assert_eq!(parent.join_timeout(T).unwrap(), Some(0), "{m}");
            // The parent waited for its non-daemon child before exiting...
            assert!(
                r.poll(Duration::ZERO).unwrap(),
                "{m}: exited before joining its child"
            );
            assert_eq!(r.recv_timeout::<(u32, u32)>(T).unwrap(), (0, 0));
            // ...and terminated its daemon.
            assert!(
                eventually(T, || !is_running(daemon)),
                "{m}: daemon survived"
            );
        }
    }

    fn start_from_a_thread(method: StartMethod) -> u32 {
        std::thread::spawn(move || {
            started(Process::new(sleeps, (60_000,)).start_method(method))
                .pid()
                .unwrap()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_child_outlives_the_thread_that_started_it() {
        let _d = deadline(60 * SECS);
        for m in methods() {
            let pid = start_from_a_thread(m);
            std::thread::sleep(Duration::from_millis(200));
            assert!(
                is_running(pid),
                "{m}: the child died with its starting thread"
            );
            let child = active_children()
                .into_iter()
                .find(|p| p.pid() == Some(pid))
                .unwrap();
            child.kill().unwrap();
            assert_eq!(child.join_timeout(T).unwrap(), Some(-9));
        }
    }
}

mod forkserver {
    use super::*;

    fn restart_scenario() -> bool {
        let first = started(Process::new(returns, ()).start_method(StartMethod::Forkserver));
        first.join_timeout(T).unwrap();
        let (server, _) = mp_process::forkserver_info().expect("a forkserver runs");
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(server as i32).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        assert!(eventually(T, || !is_running(server)));
        let second = started(Process::new(returns, ()).start_method(StartMethod::Forkserver));
        assert_eq!(second.join_timeout(T).unwrap(), Some(0));
        let (restarted, _) = mp_process::forkserver_info().unwrap();
        restarted != server
    }

    #[test]
    fn a_dead_forkserver_is_restarted() {
        let _d = deadline(60 * SECS);
        // In a child of its own: killing this test binary's forkserver would
        // kill the children of tests running alongside.
        let h = Context::new(StartMethod::Spawn)
            .spawn(restart_scenario, ())
            .unwrap();
        assert!(h.join().unwrap());
    }

    #[test]
    fn the_forkserver_refuses_callers_without_its_key() {
        let _d = deadline(30 * SECS);
        started(Process::new(returns, ()).start_method(StartMethod::Forkserver))
            .join_timeout(T)
            .unwrap();
        let (_, address) = mp_process::forkserver_info().unwrap();
        let wrong = mp_pipe::Client::builder(address.clone())
            .authkey(b"guess")
            .timeout(T)
            .connect_now();
        assert!(
            matches!(wrong, Err(mp_pipe::Error::Authentication(_))),
            "{wrong:?}"
        );
        let none = mp_pipe::Client::builder(address).timeout(T).connect_now();
        assert!(
            matches!(none, Err(mp_pipe::Error::Authentication(_))),
            "{none:?}"
        );
    }
}

mod concurrency {
    use super::*;

    /// Fork starts and the first forkserver start race from several threads.
    fn race_first_forkserver_against_forks() -> u32 {
        let threads: Vec<_> = (0..6)
            .map(|i| {
                std::thread::spawn(move || {
                    let m = if i % 2 == 0 {
                        StartMethod::Forkserver
                    } else {
                        StartMethod::Fork
                    };
                    let p = started(Process::new(returns, ()).start_method(m));
                    p.join_timeout(T).unwrap().unwrap()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap() as u32).sum()
    }

    #[test]
    fn fork_and_a_first_forkserver_start_do_not_deadlock() {
        let _d = deadline(120 * SECS);
        // Each round in a fresh process, whose forkserver is not running yet.
        for _ in 0..10 {
            let h = Context::new(StartMethod::Spawn)
                .spawn(race_first_forkserver_against_forks, ())
                .unwrap();
            assert_eq!(h.join().unwrap(), 0);
        }
    }

    #[test]
    fn starts_from_many_threads_at_once() {
        let _d = deadline(120 * SECS);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    let m = methods()[i % 3];
                    for _ in 0..5 {
                        let h = Context::new(m)
                            .spawn(sleeps_then_echo, (1, i as u32))
                            .unwrap();
                        assert_eq!(h.join().unwrap(), i as u32);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    fn sleeps_then_echo(ms: u64, value: u32) -> u32 {
        std::thread::sleep(Duration::from_millis(ms));
        value
    }
}

mod remote {
    use super::*;
    use mp_process::{CallError, RemoteFn, decode_results};

    fn cube(n: u64) -> u64 {
        if n == 13 {
            panic!("unlucky {n}");
        }
        n * n * n
    }

    fn call_in_child(f: RemoteFn<(u64,), u64>, n: u64) -> u64 {
        f.call((n,))
    }

    fn call_erased_in_child(f: RemoteFn<(u64,), u64>, args: Vec<u8>) -> Result<Vec<u8>, CallError> {
        f.erase().call(&args)
    }

    #[test]
    fn a_function_reference_is_called_in_children_under_every_start_method() {
        let _d = deadline(60 * SECS);
        let f = RemoteFn::new(cube);
        assert_eq!(f.call((3,)), 27);
        for m in methods() {
            assert_eq!(
                Context::new(m)
                    .spawn(call_in_child, (f, 4))
                    .unwrap()
                    .join()
                    .unwrap(),
                64,
                "{m}"
            );
            let args = postcard::to_allocvec(&vec![(2u64,), (13,), (5,)]).unwrap();
            let out = Context::new(m)
                .spawn(call_erased_in_child, (f, args))
                .unwrap()
                .join()
                .unwrap()
                .unwrap();
            let results = decode_results::<u64>(&out, 3).unwrap();
            assert_eq!(results[0], Ok(8));
            assert!(
                matches!(&results[1], Err(msg) if msg.contains("unlucky 13")),
                "{m}: a panic is that item's error"
            );
            assert_eq!(results[2], Ok(125));
        }
    }

    #[test]
    fn forged_or_retyped_references_do_not_decode() {
        let _d = deadline(10 * SECS);
        let f = RemoteFn::new(cube);
        let mut bytes = postcard::to_allocvec(&f).unwrap();
        assert!(postcard::from_bytes::<RemoteFn<(u64,), u64>>(&bytes).is_ok());
        // Another signature: the tag covers the types.
        assert!(postcard::from_bytes::<RemoteFn<(u32,), u64>>(&bytes).is_err());
        // A different offset (pointing anywhere) with the old tag.
        bytes[0] ^= 0x02;
        assert!(postcard::from_bytes::<RemoteFn<(u64,), u64>>(&bytes).is_err());
        // Arguments that do not decode are a call error, not a crash.
        assert!(matches!(
            f.erase().call(&[0xff, 0xff, 0xff]),
            Err(CallError::Decode(_))
        ));
    }
}

mod stdin {
    use super::*;
    use std::io::Read;

    fn read_stdin() -> usize {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).unwrap();
        buf.len()
    }

    #[test]
    fn a_re_executed_child_reads_end_of_file_on_stdin() {
        let _d = deadline(30 * SECS);
        for m in [StartMethod::Spawn, StartMethod::Forkserver] {
            assert_eq!(
                Context::new(m)
                    .spawn(read_stdin, ())
                    .unwrap()
                    .join()
                    .unwrap(),
                0,
                "{m}"
            );
        }
    }
}
