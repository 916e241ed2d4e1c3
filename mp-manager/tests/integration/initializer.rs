//! `BaseManager::initializer`: a function run inside the server process
//! before it serves, under every start method; a panic in it fails
//! `start` with its message.

use std::sync::OnceLock;

use mp_manager::{BaseManager, Error, Registrar, Registry, ServerObject, ValueProxy};
use mp_process::StartMethod;

use crate::DEADLINE;

/// What the initializer saw: its argument and the process it ran in.
static SEEN: OnceLock<(String, u32)> = OnceLock::new();

fn remember(greeting: String) {
    let _ = SEEN.set((greeting, std::process::id()));
}

fn refuse(why: String) {
    mp_testkit::panic_quietly(format!("the initializer refuses: {why}"));
}

/// Offers what the initializer left in the server's memory (registries
/// run after the initializer, as Python's server is made after it).
struct Probe;

impl Registry for Probe {
    fn register(registrar: &mut Registrar) {
        registrar.register_with("seen", |_| {
            ServerObject::value(&SEEN.get().cloned())
                .map_err(|e| mp_manager::RemoteError::new(e.to_string()))
        });
    }
}

#[test]
fn the_initializer_runs_in_the_server_before_it_serves_under_every_start_method() {
    let _d = mp_testkit::deadline(DEADLINE);
    for m in StartMethod::ALL {
        let manager = BaseManager::new()
            .start_method(m)
            .registry::<Probe>()
            .initializer(remember, (format!("hello {m}"),))
            .start()
            .unwrap();
        let seen: ValueProxy<Option<(String, u32)>> = manager.get("seen").unwrap();
        let (greeting, pid) = seen.get().unwrap().expect("the initializer did not run");
        assert_eq!(greeting, format!("hello {m}"));
        assert_eq!(Some(pid), manager.pid(), "{m}: it ran outside the server");
        assert_ne!(pid, std::process::id());
        manager.shutdown().unwrap();
    }
}

#[test]
fn a_panicking_initializer_fails_start_with_its_message() {
    let _d = mp_testkit::deadline(DEADLINE);
    for m in StartMethod::ALL {
        let started = BaseManager::new()
            .start_method(m)
            .initializer(refuse, ("no reason".to_string(),))
            .start();
        match started {
            Err(Error::Initializer(message)) => {
                assert!(
                    message.contains("the initializer refuses: no reason"),
                    "{m}: {message}"
                );
            }
            other => panic!("{m}: start gave {other:?}"),
        }
    }
}

fn exits_with(code: i32) {
    std::process::exit(code);
}

/// Starts a process in the server and checks its exit code (a daemon could
/// not start it: `DaemonCannotStartChildren`).
fn start_a_process_here(method: StartMethod) {
    let mut child = mp_process::Process::new(exits_with, (7,)).start_method(method);
    if let Err(e) = child.start() {
        mp_testkit::panic_quietly(format!("the server could not start a process: {e}"));
    }
    assert_eq!(child.join().unwrap(), 7);
}

/// As in CPython, the server process is no daemon: what runs in it may
/// start processes (yet it is still terminated when its owner exits).
#[test]
fn the_server_may_start_processes() {
    let _d = mp_testkit::deadline(DEADLINE);
    for m in StartMethod::ALL {
        let manager = BaseManager::new()
            .start_method(m)
            .initializer(start_a_process_here, (m,))
            .start();
        match manager {
            Ok(manager) => manager.shutdown().unwrap(),
            Err(e) => panic!("{m}: {e:?}"),
        }
    }
}
