//! A worker that dies fails only its running task with `WorkerLost`.

use super::*;

#[test]
fn a_worker_sigkilled_mid_task_during_map() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::new(2).unwrap();
    let path = std::env::temp_dir().join(format!("mp-pool-hang-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = path.to_str().unwrap().to_owned();
    let args: Vec<(u64, u64, String)> = (0..20).map(|i| (i, 7, p.clone())).collect();
    let result = pool
        .starmap_async_with(hang_at, args, Some(1), Default::default())
        .unwrap();
    assert!(mp_testkit::eventually(secs(30), || path.exists()
        && !std::fs::read_to_string(&path)
            .unwrap_or_default()
            .is_empty()));
    let pid: i32 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let _ = std::fs::remove_file(&path);
    let killed = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert_eq!(
        result.get_timeout(secs(30)),
        Err(Error::WorkerLost { exitcode: -9 })
    );
    let took = killed.elapsed();
    assert!(took < secs(10), "the loss was reported after {took:?}");
    // The worker is replaced and the pool goes on.
    assert!(mp_testkit::eventually(secs(10), || pool.pids().len() == 2));
    assert!(!pool.pids().contains(&(pid as u32)));
    assert_eq!(pool.map(square, 0..100u64).unwrap()[10], 100);
}

#[test]
fn only_the_running_task_fails_and_queued_ones_run_elsewhere() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::new(2).unwrap();
    // Item 3 kills its worker after 300 ms, while that worker holds
    // other chunks it has not started.
    let results: Vec<_> = pool
        .imap(|x: u64| die_at(x, 3, 300), 0..60u64)
        .unwrap()
        .collect();
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert_eq!(*r, Err(Error::WorkerLost { exitcode: -9 }));
        } else {
            assert_eq!(*r, Ok(i as u64));
        }
    }
    // apply_async: exactly one of 20 fails.
    let handles: Vec<_> = (0..20u64)
        .map(|i| pool.apply_async(die_at, (i, 7, 200)).unwrap())
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.get()).collect();
    let failed: Vec<usize> = (0..20).filter(|&i| outcomes[i].is_err()).collect();
    assert_eq!(failed, [7]);
    assert_eq!(outcomes[7], Err(Error::WorkerLost { exitcode: -9 }));
}

#[test]
fn abort_segfault_exit_and_sigkill_are_reported_with_their_codes() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::new(2).unwrap();
    for (how, code) in [
        ("abort", -6),
        ("segfault", -11),
        ("exit3", 3),
        ("sigkill", -9),
    ] {
        let before = pool.pids();
        let t = Instant::now();
        let r = pool.apply_async(die, (how.to_owned(),)).unwrap();
        assert_eq!(
            r.get_timeout(secs(30)),
            Err(Error::WorkerLost { exitcode: code }),
            "{how}"
        );
        assert!(
            t.elapsed() < secs(10),
            "{how} reported after {:?}",
            t.elapsed()
        );
        assert!(mp_testkit::eventually(secs(10), || pool.pids().len() == 2));
        assert_ne!(pool.pids(), before, "{how}: the worker was replaced");
        assert_eq!(pool.apply(square, (4,)), Ok(16));
    }
}
