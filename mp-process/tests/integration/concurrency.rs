//! Starts from many threads at once, with every start method.

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

/// A `Fork` child started while another thread holds stdout's lock (as it
/// does while it prints) must not inherit the lock held: the child flushes
/// stdout as it leaves, and would wait for it forever.
#[test]
fn a_fork_child_leaves_while_another_thread_holds_stdout() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _d = deadline(60 * SECS);
    let stop = Arc::new(AtomicBool::new(false));
    let printer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Held nearly all the time, as by a thread printing much.
                let held = std::io::stdout().lock();
                let until = Instant::now() + Duration::from_micros(200);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                drop(held);
            }
        })
    };
    for run in 0..30 {
        let p = started(Process::new(returns, ()).start_method(StartMethod::Fork));
        assert_eq!(
            p.join_timeout(T).unwrap(),
            Some(0),
            "run {run}: the child is stuck on its copy of stdout's lock"
        );
    }
    stop.store(true, Ordering::Relaxed);
    printer.join().unwrap();
}
