//! What a child knows of itself and its parent; start methods and contexts.

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
    // Cached here, before the fork below copies the cache.
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

/// Sets this process's default start method: run in a child of its own,
/// so that no other test sees the change and no test run before it can
/// have changed the default it checks.
fn check_start_methods_and_contexts() {
    assert_eq!(
        get_start_method(),
        StartMethod::Forkserver,
        "the method this child was started with"
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

#[test]
fn start_methods_and_contexts() {
    let _d = deadline(30 * SECS);
    // Under Forkserver, which the child then reports as its default.
    let checked = Context::new(StartMethod::Forkserver)
        .spawn(check_start_methods_and_contexts, ())
        .unwrap()
        .join();
    assert!(checked.is_ok(), "{checked:?}");
}

/// What the child says its start method is: `get_start_method()` and the
/// default context's method.
fn reports_its_method() -> (StartMethod, StartMethod) {
    (
        get_start_method(),
        mp_process::get_context(None).start_method(),
    )
}

/// A grandchild started with the default method: what it reports.
fn starts_with_its_default() -> (StartMethod, StartMethod) {
    mp_process::spawn(reports_its_method, ())
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn a_child_reports_the_method_it_was_started_with() {
    let _d = deadline(60 * SECS);
    for m in methods() {
        let ctx = Context::new(m);
        let reported = ctx.spawn(reports_its_method, ()).unwrap().join().unwrap();
        assert_eq!(reported, (m, m), "started with {m}");
        // And it is that child's default: its own children use it.
        let inherited = ctx
            .spawn(starts_with_its_default, ())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(inherited, (m, m), "a grandchild of a {m} child");
    }
}
