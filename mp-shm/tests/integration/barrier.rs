use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use mp_shm::{Array, Barrier, BarrierAction, ErrorKind, RawValue};
use mp_testkit::deadline;

use crate::{LONG, join, started};

const CYCLES: usize = 1000;

/// The action's view of the shared cycle counter (set in every process).
static CYCLES_RUN: OnceLock<RawValue<u64>> = OnceLock::new();

/// Counts the cycles (every process makes its own `CountCycle`).
#[derive(Default)]
struct CountCycle;

impl BarrierAction for CountCycle {
    fn run(&self) {
        let c = CYCLES_RUN.get().expect("counter installed before waiting");
        // The action runs once per cycle, serialised by the barrier.
        c.store(c.load() + 1);
    }
}

fn party<A: BarrierAction>(b: Barrier<A>, seen: Array<u32>, counter: RawValue<u64>) {
    let _ = CYCLES_RUN.set(counter);
    for cycle in 0..CYCLES {
        let index = b.wait().unwrap();
        seen.lock().unwrap()[cycle] |= 1 << index;
    }
}

#[test]
fn barrier_of_five_four_children_and_the_parent_for_1000_cycles() {
    let _d = deadline(Duration::from_secs(120));
    let counter = RawValue::new(0u64).unwrap();
    let _ = CYCLES_RUN.set(counter.clone());
    let b = Barrier::with_action(5, CountCycle)
        .unwrap()
        .default_timeout(Duration::from_secs(60));
    let seen = Array::<u32>::zeroed(CYCLES).unwrap();
    let methods = [
        StartMethod::Forkserver,
        StartMethod::Spawn,
        StartMethod::Fork,
        StartMethod::Forkserver,
    ];
    let ps: Vec<Process> = methods
        .iter()
        .map(|m| {
            started(
                Process::new(
                    party,
                    (b.clone(), seen.clone(), CYCLES_RUN.get().unwrap().clone()),
                ),
                *m,
            )
        })
        .collect();
    party(b.clone(), seen.clone(), counter.clone());
    for p in &ps {
        assert_eq!(join(p), 0);
    }
    let seen = seen.to_vec().unwrap();
    let bad: Vec<(usize, u32)> = seen
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| *s != 0b11111)
        .collect();
    assert!(bad.is_empty(), "cycles without 5 distinct indexes: {bad:?}");
    assert_eq!(
        counter.load(),
        CYCLES as u64,
        "the action ran once per cycle"
    );
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.parties(), 5);
}

fn wait_briefly(b: Barrier) -> i32 {
    match b.wait_timeout(Duration::from_millis(200)) {
        Err(e) if e.kind() == ErrorKind::BrokenBarrier => 0,
        _ => 1,
    }
}

#[test]
fn a_timeout_breaks_the_barrier_for_everyone() {
    let _d = deadline(LONG);
    let b = Barrier::new(3).unwrap();
    let ps: Vec<Process> = [StartMethod::Forkserver, StartMethod::Fork]
        .into_iter()
        .map(|m| started(Process::new(wait_briefly, (b.clone(),)), m))
        .collect();
    // Both children return BrokenBarrier: one timed out, the other was
    // released by the break.
    for p in &ps {
        assert_eq!(join(p), 0);
    }
    assert!(b.is_broken());
    assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    b.reset();
    assert!(!b.is_broken());
    // The default timeout (Python's `Barrier(n, timeout=t)`) breaks it too.
    let lonely = Barrier::new(2)
        .unwrap()
        .default_timeout(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(lonely.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(lonely.is_broken());
    let b1 = Barrier::new(1).unwrap();
    assert_eq!(b1.wait().unwrap(), 0);
    assert_eq!(
        Barrier::new(0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

fn wait_long(b: Barrier) -> i32 {
    match b.wait_timeout(Duration::from_secs(30)) {
        Err(e) if e.kind() == ErrorKind::BrokenBarrier => 0,
        _ => 1,
    }
}

#[test]
fn abort_and_reset_release_waiters_with_broken_barrier() {
    let _d = deadline(LONG);
    let b = Barrier::new(3).unwrap();
    let p = started(Process::new(wait_long, (b.clone(),)), StartMethod::Spawn);
    assert!(mp_testkit::eventually(LONG, || b.n_waiting() == 1));
    let t = Instant::now();
    b.abort();
    assert_eq!(join(&p), 0);
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(b.is_broken());
    b.reset();
    // reset() with a waiter: the waiter gets BrokenBarrier, the barrier is usable after.
    let p = started(
        Process::new(wait_long, (b.clone(),)),
        StartMethod::Forkserver,
    );
    assert!(mp_testkit::eventually(LONG, || b.n_waiting() == 1));
    b.reset();
    assert_eq!(join(&p), 0);
    assert!(!b.is_broken());
    let two = Barrier::new(2).unwrap();
    let t2 = two.clone();
    let th = std::thread::spawn(move || t2.wait().unwrap());
    let mine = two.wait().unwrap();
    let theirs = th.join().unwrap();
    assert_eq!(mine + theirs, 1, "indexes 0 and 1");
}
