//! close, terminate, join, drop, maxtasksperchild, initializers, threads.

use super::*;

#[test]
fn close_then_join_finishes_the_work() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let result = pool
        .map_async_with(sleep_ms, vec![20u64; 20], Some(1), Default::default())
        .unwrap();
    let pids = pool.pids();
    pool.close();
    pool.join_timeout(secs(30)).unwrap();
    assert_eq!(result.get_timeout(secs(1)).unwrap(), vec![20; 20]);
    assert!(all_gone(&pids));
}

#[test]
fn a_closed_pool_whose_worker_dies_still_finishes_and_joins() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    // Item 0 kills its worker while that worker holds item 2, which then
    // runs (at once) on the other worker while a replacement starts:
    // the replacement must be told to stop too.
    fn die_first(x: u64) -> u64 {
        if x == 0 {
            die_at(0, 0, 200);
        }
        x
    }
    let result = pool
        .map_async_with(die_first, 0..3u64, Some(1), Default::default())
        .unwrap();
    pool.close();
    pool.join_timeout(secs(30)).unwrap();
    assert_eq!(
        result.get_timeout(secs(1)),
        Err(Error::WorkerLost { exitcode: -9 })
    );
    assert!(pool.pids().is_empty());
}

#[test]
fn use_after_close_or_terminate_is_an_error() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    pool.close();
    assert_eq!(pool.apply(square, (1,)), Err(Error::Closed));
    assert_eq!(pool.map(square, 0..3u64), Err(Error::Closed));
    assert!(matches!(pool.imap(square, 0..3u64), Err(Error::Closed)));
    assert!(matches!(pool.apply_async(square, (1,)), Err(Error::Closed)));
    pool.join_timeout(secs(30)).unwrap();

    let pool = Pool::new(1).unwrap();
    pool.terminate();
    assert_eq!(pool.apply(square, (1,)), Err(Error::Terminated));
    assert_eq!(pool.starmap(add, [(1u64, 2u64)]), Err(Error::Terminated));
    pool.join_timeout(secs(30)).unwrap();
}

#[test]
fn join_needs_close_or_terminate_first() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.join(), Err(Error::StillRunning));
    assert_eq!(pool.join_timeout(secs(1)), Err(Error::StillRunning));
    let gate = Gate::new();
    let slow = pool.apply_async(after_gate, (gate.path(), 1500)).unwrap();
    pool.close();
    assert_eq!(
        pool.join_timeout(Duration::from_millis(100)),
        Err(Error::Timeout)
    );
    gate.open();
    pool.join_timeout(secs(30)).unwrap();
    assert_eq!(slow.get(), Ok(1500));
}

#[test]
fn terminate_is_prompt_with_10000_long_tasks_queued() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::new(2).unwrap();
    // The first two tasks go one to each worker (chunks are handed out in
    // turn) and say so once they run.
    let running = std::env::temp_dir().join(format!("mp-pool-running-{}", std::process::id()));
    std::fs::create_dir_all(&running).unwrap();
    let dir = running.to_str().unwrap().to_owned();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            pool.apply_async(announce_then_sleep, (dir.clone(),))
                .unwrap()
        })
        .collect();
    let results: Vec<_> = (0..10_000)
        .map(|_| pool.apply_async(sleep_ms, (30_000,)).unwrap())
        .collect();
    let long_map = pool.map_async(sleep_ms, vec![30_000u64; 100]).unwrap();
    let announced = || std::fs::read_dir(&running).map_or(0, |d| d.count());
    assert!(mp_testkit::eventually(secs(30), || announced() == 2));
    let _ = std::fs::remove_dir_all(&running);
    let pids = pool.pids();
    let t = Instant::now();
    pool.terminate();
    let took = t.elapsed();
    assert!(took < secs(5), "terminate took {took:?}");
    for r in busy.into_iter().chain(results) {
        assert_eq!(r.get_timeout(secs(5)), Err(Error::Terminated));
    }
    assert_eq!(long_map.get(), Err(Error::Terminated));
    pool.join_timeout(secs(30)).unwrap();
    assert!(all_gone(&pids));
}

#[test]
fn dropping_a_pool_leaves_no_process_behind() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(3).unwrap();
    let pending = pool.apply_async(sleep_ms, (30_000,)).unwrap();
    let pids = pool.pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| mp_testkit::is_running(p)));
    drop(pool);
    assert!(pids.iter().all(|&p| !mp_testkit::is_running(p)));
    assert_eq!(pending.get_timeout(secs(5)), Err(Error::Terminated));
}

#[test]
fn maxtasksperchild_replaces_workers() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::builder()
        .processes(2)
        .maxtasksperchild(10)
        .build()
        .unwrap();
    let pids = pool.map_chunked(pid_of, 0..100u64, 1).unwrap();
    let mut counts = std::collections::HashMap::new();
    for pid in &pids {
        *counts.entry(*pid).or_insert(0) += 1;
    }
    assert!(counts.values().all(|&n| n <= 10), "{counts:?}");
    assert!(counts.len() >= 10, "{counts:?}");
    // Still two workers afterwards.
    assert!(mp_testkit::eventually(secs(10), || pool.pids().len() == 2));
}

#[test]
fn the_initializer_runs_once_in_every_worker() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::builder()
        .processes(2)
        .initializer(init, (42,))
        .maxtasksperchild(5)
        .build()
        .unwrap();
    let states = pool.map_chunked(init_state, 0..40u64, 1).unwrap();
    let pids: std::collections::HashSet<u32> = states.iter().map(|s| s.0).collect();
    assert!(pids.len() >= 8);
    assert!(
        states
            .iter()
            .all(|&(_, calls, value)| calls == 1 && value == 42),
        "{states:?}"
    );
    // Not in this process.
    assert_eq!(INIT_CALLS.load(Ordering::SeqCst), 0);
}

#[test]
fn a_failing_initializer_fails_the_tasks_instead_of_looping() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::builder()
        .processes(2)
        .initializer(init_panics, ("no database".to_owned(),))
        .build()
        .unwrap();
    // The workers may fail before the task is submitted (then
    // `apply_async` refuses it) or after (then its result is the error).
    let first = pool
        .apply_async(square, (2,))
        .and_then(|r| r.get_timeout(secs(30)));
    assert_eq!(first, Err(Error::Initializer("no database".to_owned())));
    assert_eq!(
        pool.apply(square, (2,)),
        Err(Error::Initializer("no database".to_owned()))
    );
    pool.join_timeout(secs(30)).unwrap();
}

#[test]
fn pools_and_results_cross_threads() {
    let _d = mp_testkit::deadline(secs(60));
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    send_sync::<mp_pool::AsyncResult<Vec<String>>>();
    send_sync::<Error>();
    let squares: Vec<u64> = (0..100).map(|x| x * x).collect();
    let pool = Pool::new(2).unwrap();
    // Submitted on another thread: one result collected there, one here.
    let (pending, there) = std::thread::scope(|s| {
        s.spawn(|| {
            let pending = pool.map_async(square, 0..100u64).unwrap();
            let there = pool.apply_async(add, (2, 3)).unwrap().get_timeout(secs(30));
            (pending, there)
        })
        .join()
        .unwrap()
    });
    assert_eq!(there, Ok(5));
    assert_eq!(pending.get_timeout(secs(30)).as_ref(), Ok(&squares));
    // Submitted here, collected on another thread, which also takes the
    // pool itself, uses it and shuts it down.
    let here = pool.apply_async(square, (7u64,)).unwrap();
    let (got, mapped) = std::thread::spawn(move || {
        let got = here.get_timeout(secs(30));
        let mapped = pool.map(square, 0..100u64);
        pool.close();
        pool.join_timeout(secs(30)).unwrap();
        (got, mapped)
    })
    .join()
    .unwrap();
    assert_eq!(got, Ok(49));
    assert_eq!(mapped, Ok(squares));
}

#[test]
fn threads_can_share_a_pool() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let total = AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (pool, total) = (&pool, &total);
            s.spawn(move || {
                let v = pool.map(square, t * 100..(t + 1) * 100).unwrap();
                total.fetch_add(v.len() as u32, Ordering::SeqCst);
            });
        }
    });
    assert_eq!(total.load(Ordering::SeqCst), 400);
}
