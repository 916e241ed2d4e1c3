//! Pool on a real Redis: local workers, workers the pool did not start
//! ("remote": any process serving the name), lost workers, poison tasks,
//! heartbeats, builds that differ, shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mp_process::Process;
use mp_redis::{Error, Pool, Worker};

use crate::functions::*;
use crate::support::{self, DEADLINE, PATIENCE};

/// A worker the pool does not know about: what `serve` on another host is.
pub(crate) fn remote_worker(url: String, name: String, visibility_ms: u64) {
    Worker::new(&url)
        .name(&name)
        .visibility_timeout(Duration::from_millis(visibility_ms))
        .serve()
        .unwrap();
}

pub(crate) fn start_remote(url: &str, name: &str, visibility_ms: u64) -> Process {
    let mut p = Process::new(
        remote_worker,
        (url.to_string(), name.to_string(), visibility_ms),
    );
    p.start().unwrap();
    p
}

/// How many times each task index ran (from the `record` tallies).
pub(crate) fn runs(url: &str, key: &str) -> HashMap<u64, u64> {
    let mut conn = support::connection(url);
    redis::cmd("HGETALL").arg(key).query(&mut conn).unwrap()
}

pub(crate) fn tallies(url: &str, key: &str, n: u64, ms: u64) -> Vec<Tally> {
    (0..n)
        .map(|index| Tally {
            url: url.to_string(),
            key: key.to_string(),
            index,
            ms,
        })
        .collect()
}

#[test]
fn map_apply_starmap_imap_with_local_workers() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = support::local_pool(&url, "pool");
    assert_eq!(pool.pids().len(), 2);
    let squares: Vec<u64> = (0..100u64).map(|x| x * x).collect();
    assert_eq!(pool.map(square, 0..100u64).unwrap(), squares);
    assert_eq!(pool.map_chunked(square, 0..100u64, 7).unwrap(), squares);
    assert_eq!(
        pool.map_async(square, vec![3u64, 4])
            .unwrap()
            .get()
            .unwrap(),
        [9, 16]
    );
    assert_eq!(
        pool.map(square, Vec::<u64>::new()).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(pool.apply(square, (7,)).unwrap(), 49);
    let r = pool.apply_async(add, (20, 22)).unwrap();
    assert!(r.wait_timeout(PATIENCE));
    assert_eq!(r.successful(), Ok(true));
    assert_eq!(r.get_timeout(PATIENCE), Ok(42));
    assert_eq!(r.get_timeout(PATIENCE), Err(Error::ResultTaken));
    assert_eq!(pool.starmap(add, [(1u64, 2u64), (3, 4)]).unwrap(), [3, 7]);
    assert_eq!(
        pool.starmap_chunked(add, [(1u64, 2u64), (3, 4), (5, 6)], 2)
            .unwrap(),
        [3, 7, 11]
    );
    let first: Vec<u64> = pool
        .imap(square, 0u64..)
        .unwrap()
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [0, 1, 4, 9, 16]);
    let mut unordered: Vec<u64> = pool
        .imap_unordered_chunked(square, 0..50u64, 3)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    unordered.sort();
    assert_eq!(unordered, squares[..50]);
    assert_eq!(pool.duplicate_results(), 0);
    pool.close();
    assert_eq!(pool.apply(square, (1,)), Err(Error::Closed));
    pool.join_timeout(PATIENCE).unwrap();
    pool.delete_keys().unwrap();
    drop(pool);
    support::assert_no_keys(&url);
}

#[test]
fn task_errors_are_per_task_and_map_reports_the_lowest() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let pool = support::local_pool(&server.url(), "errors");
    assert_eq!(
        pool.map_chunked(fail_on_odd, [0u64, 2, 4, 7, 8, 9], 1),
        Err(Error::Panicked("odd 7".into()))
    );
    let each: Vec<_> = pool.imap(fail_on_odd, [2u64, 3, 4]).unwrap().collect();
    assert_eq!(each, [Ok(2), Err(Error::Panicked("odd 3".into())), Ok(4)]);
    fn not_registered(x: u64) -> u64 {
        x
    }
    assert!(
        matches!(pool.apply(not_registered, (1,)), Err(Error::NotRegistered(name)) if name.contains("not_registered"))
    );
    assert!(matches!(
        pool.map_chunked(square, [1u64], 0),
        Err(Error::InvalidSetting(_))
    ));
    // The pool still works.
    assert_eq!(pool.apply(square, (3,)).unwrap(), 9);
}

#[test]
fn a_local_worker_killed_mid_task_is_replaced_and_the_map_completes() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let key = support::unique("tally");
    let pool = support::local_pool(&url, "lost");
    let before = pool.pids();
    let job = pool
        .map_async_with(record, tallies(&url, &key, 20, 50), Some(1))
        .unwrap();
    // Kill a worker while it is running a task.
    assert!(mp_testkit::eventually(PATIENCE, || !runs(&url, &key).is_empty()));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(before[0] as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let values = job.get_timeout(PATIENCE).unwrap();
    assert_eq!(values, (0..20).collect::<Vec<u64>>());
    let runs = runs(&url, &key);
    assert_eq!(runs.len(), 20, "every task ran");
    assert!(mp_testkit::eventually(PATIENCE, || pool.pids().len() == 2
        && !pool.pids().contains(&before[0])));
}

#[test]
fn a_task_that_kills_its_workers_fails_with_worker_lost_alone() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let pool = Pool::builder(&server.url())
        .name(&support::unique("poison"))
        .processes(2)
        .max_deliveries(3)
        .build()
        .unwrap();
    let each: Vec<_> = pool
        .imap(poison_at_13, 0..20u64)
        .unwrap()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect();
    for (i, r) in each.iter().enumerate() {
        if i == 13 {
            assert_eq!(r, &Err(Error::WorkerLost { deliveries: 3 }.to_string()));
        } else {
            assert_eq!(r, &Ok(i as u64), "task {i}");
        }
    }
    assert_eq!(pool.apply(square, (5,)).unwrap(), 25);
}

fn poison_at_13(index: u64) -> u64 {
    poison_at(index, 13)
}
mp_redis::register!(poison_at_13);

#[test]
fn a_remote_worker_killed_mid_task_loses_it_to_another_after_the_visibility_timeout() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let name = support::unique("remote");
    let key = support::unique("tally");
    let visibility = 300;
    let first = start_remote(&url, &name, visibility);
    let pool = Pool::builder(&url)
        .name(&name)
        .visibility_timeout(Duration::from_millis(visibility))
        .build()
        .unwrap();
    let job = pool
        .apply_async(record, (tallies(&url, &key, 1, 300).remove(0),))
        .unwrap();
    assert!(mp_testkit::eventually(PATIENCE, || runs(&url, &key)
        .get(&0)
        == Some(&1)));
    first.kill().unwrap();
    first.join().unwrap();
    let killed = Instant::now();
    let second = start_remote(&url, &name, visibility);
    assert_eq!(job.get_timeout(PATIENCE), Ok(0));
    let recovered = killed.elapsed();
    assert_eq!(runs(&url, &key).get(&0), Some(&2), "run again elsewhere");
    // Reclaimed once idle for the visibility timeout, not before (the last
    // heartbeat came at most a third of it before the kill), then run
    // again for its 300 ms.
    assert!(
        recovered >= Duration::from_millis(visibility * 2 / 3 + 300),
        "{recovered:?}"
    );
    second.kill().unwrap();
}

#[test]
fn a_long_task_keeps_its_claim_and_runs_once() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let name = support::unique("long");
    let key = support::unique("tally");
    let visibility = 150;
    let workers: Vec<Process> = (0..2)
        .map(|_| start_remote(&url, &name, visibility))
        .collect();
    let pool = Pool::builder(&url)
        .name(&name)
        .visibility_timeout(Duration::from_millis(visibility))
        .build()
        .unwrap();
    // Each task runs for eight visibility timeouts.
    let values = pool
        .map_chunked(record, tallies(&url, &key, 3, 1200), 1)
        .unwrap();
    assert_eq!(values, [0, 1, 2]);
    let runs = runs(&url, &key);
    assert_eq!(
        runs,
        (0..3).map(|i| (i, 1)).collect::<HashMap<_, _>>(),
        "each ran once"
    );
    assert_eq!(pool.duplicate_results(), 0);
    for w in &workers {
        w.kill().unwrap();
    }
}

#[test]
fn a_worker_of_another_build_refuses_the_task() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let name = support::unique("build");
    let mut other = std::process::Command::new(env!("CARGO_BIN_EXE_mp-redis-worker"))
        .args([&url, &name])
        .spawn()
        .unwrap();
    let pool = Pool::builder(&url).name(&name).build().unwrap();
    let outcome = pool
        .apply_async(square, (3,))
        .unwrap()
        .get_timeout(PATIENCE);
    other.kill().unwrap();
    other.wait().unwrap();
    match outcome {
        Err(Error::WrongBuild { caller, worker }) => {
            assert_eq!(caller, mp_redis::build_fingerprint());
            assert_ne!(worker, caller);
        }
        other => panic!("expected WrongBuild, got {other:?}"),
    }
}

#[test]
fn terminate_fails_unfinished_tasks_at_once_and_leaves_no_key() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = Pool::builder(&url)
        .name(&support::unique("terminate"))
        .processes(1)
        .build()
        .unwrap();
    let pids = pool.pids();
    let job = pool
        .map_async_with(sleep_ms, vec![200u64; 100], Some(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    pool.terminate();
    assert_eq!(job.get_timeout(PATIENCE), Err(Error::Terminated));
    pool.join_timeout(PATIENCE).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(pids.iter().all(|&p| !mp_testkit::is_running(p)));
    assert_eq!(pool.apply(square, (1,)), Err(Error::Terminated));
    pool.delete_keys().unwrap();
    drop(pool);
    support::assert_no_keys(&url);
}

#[test]
fn a_frozen_worker_is_taken_over_and_its_late_result_is_dropped() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let name = support::unique("frozen");
    let key = support::unique("tally");
    let visibility = 200;
    let frozen = start_remote(&url, &name, visibility);
    let pool = Pool::builder(&url)
        .name(&name)
        .visibility_timeout(Duration::from_millis(visibility))
        .build()
        .unwrap();
    let result = pool
        .apply_async(record, (tallies(&url, &key, 1, 400).remove(0),))
        .unwrap();
    assert!(mp_testkit::eventually(PATIENCE, || runs(&url, &key)
        .get(&0)
        == Some(&1)));
    // Frozen mid-task: its heartbeat stops too, so another worker takes over.
    let pid = rustix::process::Pid::from_raw(frozen.pid().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let other = start_remote(&url, &name, visibility);
    assert_eq!(result.get_timeout(PATIENCE), Ok(0));
    assert_eq!(runs(&url, &key).get(&0), Some(&2));
    // Thawed, the first worker finishes and posts its result too: dropped.
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    assert!(mp_testkit::eventually(PATIENCE, || pool
        .duplicate_results()
        == 1));
    assert_eq!(result.get_timeout(PATIENCE), Err(Error::ResultTaken));
    frozen.kill().unwrap();
    other.kill().unwrap();
}

/// A caller blocked in `get` reads its result itself while the result
/// thread stays off the stream: the result thread must not hold the
/// stream's reader while it stays off. (It did, through a `match` that
/// kept its `try_lock` guard over its pause: a blocked `get` then took the
/// reader only in the moments between two pauses, and about one call in a
/// hundred waited 0.1-2.5 s for it instead of 0.2 ms.)
#[test]
fn a_blocked_get_is_not_held_up_by_the_result_thread() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = support::local_pool(&url, "blocked-get");
    assert_eq!(pool.apply(square, (3,)).unwrap(), 9);
    // A call takes about 0.2 ms here; 100 ms is a stall, not a slow call.
    let stall = Duration::from_millis(100);
    let mut stalls = Vec::new();
    for x in 0..1000u64 {
        let start = Instant::now();
        assert_eq!(pool.apply(square, (x,)).unwrap(), x * x);
        let took = start.elapsed();
        if took >= stall {
            stalls.push((x, took));
        }
    }
    // One hiccup of a loaded machine is forgiven; the bug made about ten.
    assert!(
        stalls.len() <= 1,
        "calls that waited for the reader: {stalls:?}"
    );
    support::close_and_clean(pool, &url);
}

#[test]
fn callers_blocked_in_get_route_each_others_results_once() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = support::local_pool(&url, "readers");
    // Results nobody waits for while the callers below read the stream:
    // they reach their AsyncResults all the same.
    let unwaited: Vec<_> = (0..50u64)
        .map(|x| pool.apply_async(square, (x,)).unwrap())
        .collect();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..100u64 {
                    let x = t * 1000 + i;
                    assert_eq!(pool.apply(square, (x,)).unwrap(), x * x);
                    let r = pool.apply_async(add, (x, 1)).unwrap();
                    assert_eq!(r.get_timeout(PATIENCE), Ok(x + 1));
                }
                let batch: Vec<u64> = (t * 10..t * 10 + 10).collect();
                let squares: Vec<u64> = batch.iter().map(|x| x * x).collect();
                assert_eq!(pool.map_chunked(square, batch, 3).unwrap(), squares);
            });
        }
    });
    for (x, r) in unwaited.into_iter().enumerate() {
        assert!(r.ready() || r.wait_timeout(PATIENCE));
        assert_eq!(r.get(), Ok(x as u64 * x as u64));
    }
    // A `get` that times out leaves the stream to the others.
    let slow = pool.apply_async(sleep_ms, (300u64,)).unwrap();
    assert_eq!(
        slow.get_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    );
    assert_eq!(pool.apply(square, (9,)).unwrap(), 81);
    assert!(slow.wait_timeout(PATIENCE));
    assert_eq!(pool.duplicate_results(), 0);
    support::close_and_clean(pool, &url);
}

#[test]
fn an_os_handle_as_a_task_argument_is_refused_with_what_to_do() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = Pool::builder(&url)
        .name(&support::unique("handle"))
        .processes(1)
        .build()
        .unwrap();
    let fd = mp_handle::Fd::from(std::os::fd::OwnedFd::from(
        std::fs::File::open("/dev/null").unwrap(),
    ));
    match pool.apply_async(takes_a_handle, (fd,)) {
        Err(Error::Encode(why)) => {
            assert!(why.contains("cannot travel in a task"), "{why}");
            assert!(why.contains("mp_redis::Queue"), "{why}");
        }
        other => panic!("a handle went out as a task: {other:?}"),
    }
    // Nothing was sent: the pool goes on.
    assert_eq!(pool.apply(square, (3,)).unwrap(), 9);
    support::close_and_clean(pool, &url);
}
