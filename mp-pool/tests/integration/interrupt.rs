//! Ctrl-C (SIGINT): blocked calls are interrupted, workers ignore it.

use mp_pipe::Connection;
use mp_process::{Context, StartMethod};
use rustix::process::{Pid, Signal, kill_process};

use super::*;

/// In a child: a pool, its worker pids sent to the test, then a long
/// map that the test interrupts with SIGINT.
fn interrupted_map(conn: Connection) -> String {
    let pool = Pool::new(2).unwrap();
    let t = Instant::now();
    let r = pool
        .map_async_with(sleep_ms, vec![30_000u64; 4], Some(1), Default::default())
        .unwrap();
    conn.send(&pool.pids()).unwrap();
    let r = r.get();
    format!("{r:?} after {} ms", t.elapsed().as_millis())
}

/// In a child: a pool used once, then idle when SIGINT comes.
fn idle_pool(conn: Connection) -> String {
    let pool = Pool::new(1).unwrap();
    pool.apply(square, (3,)).unwrap();
    conn.send(&pool.pids()).unwrap();
    std::thread::sleep(secs(30));
    "not interrupted".to_owned()
}

fn sigint(pid: u32) {
    kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::INT).unwrap();
}

#[test]
fn sigint_during_map_is_interrupted_and_leaves_no_worker() {
    let _d = mp_testkit::deadline(secs(240));
    for m in StartMethod::ALL {
        let (ours, theirs) = mp_pipe::pipe().unwrap();
        let mut child = Context::new(m).spawn(interrupted_map, (theirs,)).unwrap();
        let pids: Vec<u32> = ours.recv_timeout(secs(60)).unwrap();
        assert_eq!(pids.len(), 2);
        // After sending the pids its main thread only enters `get` and
        // sleeps there: once it sleeps, the SIGINT lands inside the pool
        // call.
        let pid = child.process().pid().unwrap();
        assert!(mp_testkit::eventually(secs(30), || {
            mp_testkit::proc_info(pid).is_some_and(|p| p.state == 'S')
        }));
        sigint(pid);
        let outcome = child.join_timeout(secs(30)).unwrap();
        assert!(outcome.starts_with("Err(Interrupted)"), "{m}: {outcome}");
        assert!(all_gone(&pids), "{m}: workers left behind");
    }
}

#[test]
fn sigint_outside_pool_calls_still_ends_the_program() {
    let _d = mp_testkit::deadline(secs(240));
    // Not under Fork: a child forked from this process, where other tests
    // run pools, inherits this process's SIGINT set-up (the default
    // action outside pool calls: -2).
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let (ours, theirs) = mp_pipe::pipe().unwrap();
        let mut child = Context::new(m).spawn(idle_pool, (theirs,)).unwrap();
        let pids: Vec<u32> = ours.recv_timeout(secs(60)).unwrap();
        sigint(child.process().pid().unwrap());
        let outcome = child.join_timeout(secs(30));
        // An mp child exits with 1 on SIGINT, as a CPython child's
        // `KeyboardInterrupt` does; its pool keeps that outside pool calls.
        assert!(
            matches!(outcome, Err(mp_process::JoinError::Died { exitcode: 1 })),
            "{m}: {outcome:?}"
        );
        assert!(all_gone(&pids), "{m}: workers left behind");
    }
}

#[test]
fn workers_ignore_sigint() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    // Both workers have run a task, so both are past their start (where
    // they ignore SIGINT from then on).
    let pids = pool.pids();
    let mut seen = std::collections::HashSet::new();
    assert!(mp_testkit::eventually(secs(30), || {
        seen.extend(pool.map_chunked(pid_of, 0..4u64, 1).unwrap());
        seen.len() == 2
    }));
    let slow = pool.apply_async(sleep_ms, (300,)).unwrap();
    for &pid in &pids {
        sigint(pid);
    }
    assert_eq!(slow.get_timeout(secs(30)), Ok(300));
    assert_eq!(pool.pids(), pids);
    assert_eq!(pool.apply(square, (5,)), Ok(25));
}
