//! Many children at once: starts, joins, signals, reaping.

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
