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
