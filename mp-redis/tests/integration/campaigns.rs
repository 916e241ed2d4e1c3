//! Kill campaigns: consumers and pool workers SIGKILLed at random moments,
//! trial after trial. Every trial must end in time (no hang), with every
//! item or task accounted for (nothing lost), and the caller must see each
//! task's result once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mp_process::Process;
use mp_redis::{Pool, Queue, QueueBuilder};

use crate::support::{self, PATIENCE};

/// Trials per campaign (`MP_REDIS_TRIALS` overrides).
fn trials() -> u64 {
    std::env::var("MP_REDIS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// A cheap pseudo-random sequence (the kill moments), seeded per run and
/// printed so a failing run can be replayed.
struct Moments(u64);

impl Moments {
    fn new() -> Moments {
        let seed = std::env::var("MP_REDIS_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                now.as_nanos() as u64 ^ std::process::id() as u64
            });
        println!("kill campaign seed {seed} (MP_REDIS_SEED replays it)");
        Moments(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

const VISIBILITY: Duration = Duration::from_millis(150);
const ITEMS: u64 = 10;

fn consumer(q: Queue<u64>, results: Queue<u64>) {
    loop {
        match q.get_tracked_timeout(Duration::from_secs(30)) {
            Ok(d) => {
                std::thread::sleep(Duration::from_millis(2));
                results.put(d.value()).unwrap();
                d.done().unwrap();
            }
            Err(e) => panic!("consumer: {e}"),
        }
    }
}

fn start_consumer(q: &Queue<u64>, results: &Queue<u64>) -> Process {
    let mut p = Process::new(consumer, (q.clone(), results.clone())).daemon(true);
    p.start().unwrap();
    p
}

#[test]
fn consumer_kill_campaign() {
    let _d = mp_testkit::deadline(Duration::from_secs(240));
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let mut moments = Moments::new();
    let (mut duplicates, mut kills) = (0, 0);
    let started = Instant::now();
    for trial in 0..trials() {
        let q: Queue<u64> = QueueBuilder::new(&url, &support::unique("campaign"))
            .visibility_timeout(VISIBILITY)
            .max_deliveries(20)
            .build()
            .unwrap();
        let results: Queue<u64> = Queue::open(&url, &support::unique("results")).unwrap();
        let mut consumers = vec![start_consumer(&q, &results), start_consumer(&q, &results)];
        for i in 0..ITEMS {
            q.put(&i).unwrap();
        }
        std::thread::sleep(Duration::from_millis(moments.below(25)));
        let victim = consumers.remove(moments.below(2) as usize);
        victim.kill().unwrap();
        victim.join().unwrap();
        kills += 1;
        consumers.push(start_consumer(&q, &results));
        let mut seen = HashSet::new();
        let end = Instant::now() + PATIENCE;
        while seen.len() < ITEMS as usize {
            let left = end.saturating_duration_since(Instant::now());
            match results.get_timeout(left) {
                Ok(i) => {
                    if !seen.insert(i) {
                        duplicates += 1;
                    }
                }
                Err(e) => panic!(
                    "trial {trial}: lost items ({} of {ITEMS} seen): {e}",
                    seen.len()
                ),
            }
        }
        for c in &consumers {
            c.kill().unwrap();
        }
        // Items processed again after the kill may still be on their way.
        while results.get_timeout(Duration::from_millis(1)).is_ok() {
            duplicates += 1;
        }
        for c in consumers {
            c.join().unwrap();
        }
        q.delete_keys().unwrap();
        results.delete_keys().unwrap();
    }
    println!(
        "consumer kill campaign: {} trials, {kills} consumers killed, 0 hangs, 0 items lost, \
         {duplicates} items processed twice (at-least-once), {:?}",
        trials(),
        started.elapsed()
    );
    support::assert_no_keys(&url);
}

fn echo_slowly(index: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(3));
    index
}
mp_redis::register!(echo_slowly);

#[test]
fn pool_worker_kill_campaign() {
    let _d = mp_testkit::deadline(Duration::from_secs(240));
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = Pool::builder(&url)
        .name(&support::unique("campaign"))
        .processes(2)
        .max_deliveries(20)
        .visibility_timeout(VISIBILITY)
        .build()
        .unwrap();
    let mut moments = Moments::new();
    let mut kills = 0;
    let started = Instant::now();
    for trial in 0..trials() {
        assert!(
            mp_testkit::eventually(PATIENCE, || pool.pids().len() == 2),
            "trial {trial}: workers not replaced"
        );
        let pids = pool.pids();
        let victim = pids[moments.below(2) as usize];
        imap_trial(&pool, trial, moments.below(15) as usize, || {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(victim as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        });
        kills += 1;
    }
    println!(
        "pool worker kill campaign: {} trials, {kills} workers killed, 0 hangs, 0 tasks lost, \
         0 results seen twice ({} duplicate runs dropped), {:?}",
        trials(),
        pool.duplicate_results(),
        started.elapsed()
    );
    support::close_and_clean(pool, &url);
}

/// One trial: 20 tasks through `imap_unordered`, `kill` called after
/// `kill_after` results; every result must come once, in time.
fn imap_trial(pool: &Pool, trial: u64, kill_after: usize, kill: impl FnOnce()) {
    let mut tasks = pool.imap_unordered(echo_slowly, 0..20u64).unwrap();
    let mut seen = HashSet::new();
    let mut kill = Some(kill);
    for got in 0..20 {
        if got == kill_after {
            (kill.take().expect("once"))();
        }
        let value = tasks
            .next_timeout(PATIENCE)
            .unwrap_or_else(|| panic!("trial {trial}: the iterator ended early"))
            .unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        assert!(
            seen.insert(value),
            "trial {trial}: result {value} seen twice"
        );
    }
    assert!(
        tasks.next_timeout(PATIENCE).is_none(),
        "trial {trial}: extra results"
    );
}

/// Workers the pool did not start (as on other hosts): a killed one's
/// tasks come back only through the visibility timeout.
#[test]
fn remote_worker_kill_campaign() {
    let _d = mp_testkit::deadline(Duration::from_secs(240));
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let name = support::unique("remote-campaign");
    let visibility = VISIBILITY.as_millis() as u64;
    let mut workers: Vec<Process> = (0..2)
        .map(|_| crate::pool::start_remote(&url, &name, visibility))
        .collect();
    let pool = Pool::builder(&url)
        .name(&name)
        .max_deliveries(20)
        .visibility_timeout(VISIBILITY)
        .build()
        .unwrap();
    let mut moments = Moments::new();
    let started = Instant::now();
    for trial in 0..trials() {
        let victim = workers.remove(moments.below(2) as usize);
        imap_trial(&pool, trial, moments.below(15) as usize, || {
            victim.kill().unwrap();
            victim.join().unwrap();
        });
        workers.push(crate::pool::start_remote(&url, &name, visibility));
    }
    println!(
        "remote worker kill campaign: {} trials, {} workers killed, 0 hangs, 0 tasks lost, \
         0 results seen twice ({} duplicate runs dropped), {:?}",
        trials(),
        trials(),
        pool.duplicate_results(),
        started.elapsed()
    );
    for w in &workers {
        w.kill().unwrap();
    }
    for w in workers {
        w.join().unwrap();
    }
    support::close_and_clean(pool, &url);
}
