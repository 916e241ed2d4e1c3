//! Exactly-once delivery while the sides' biased turns change hands often:
//! more producers and consumers than CPUs, round after round on fresh
//! queues (a fresh queue earns its bias after 64 turns, so owners come and
//! go all the time), checked item by item.
//!
//! A former owner preempted inside `take`'s fast path used to clear the
//! `busy` flag of the next owner in the middle of its turn, and a revoker
//! then let a second thread write the same ring bytes: items lost, doubled,
//! or a producer tripping over a tail behind the head. These tests failed
//! within seconds in most runs on a loaded 2-CPU machine.

use std::time::{Duration, Instant};

use mp_process::{Process, spawn};
use mp_queue::{Queue, QueueBuilder};
use mp_testkit::deadline;

const PRODUCERS: u32 = 4;
const CONSUMERS: u32 = 2;
const PER_PRODUCER: u32 = 20_000;
/// How long each test goes on starting rounds.
const RUN_FOR: Duration = Duration::from_secs(15);

/// `Some((producer, seq))`, or `None`: the end of one producer's items.
type Msg = Option<(u32, u32)>;

/// Which items of each producer one consumer got.
type Seen = Vec<Vec<u64>>;

fn fresh_queue() -> Queue<Msg> {
    QueueBuilder::new().ring_size(64 << 10).build().unwrap()
}

/// Puts its items, then one end marker per consumer.
fn produce(q: Queue<Msg>, producer: u32) {
    for seq in 0..PER_PRODUCER {
        q.put(&Some((producer, seq))).unwrap();
    }
    for _ in 0..CONSUMERS {
        q.put(&None).unwrap();
    }
}

/// Gets until it has seen as many end markers as there are producers (all
/// consumers together then got every marker, so every item before them).
/// Panics on an item out of its producer's order.
fn consume(q: Queue<Msg>) -> Seen {
    let mut seen = vec![vec![0u64; (PER_PRODUCER as usize).div_ceil(64)]; PRODUCERS as usize];
    let mut last = vec![None::<u32>; PRODUCERS as usize];
    let mut ends = 0;
    while ends < PRODUCERS {
        match q.get_timeout(Duration::from_secs(60)).unwrap() {
            None => ends += 1,
            Some((p, seq)) => {
                let p = p as usize;
                assert!(
                    last[p] < Some(seq),
                    "producer {p}: {seq} after {:?}",
                    last[p]
                );
                last[p] = Some(seq);
                seen[p][seq as usize / 64] |= 1 << (seq % 64);
            }
        }
    }
    seen
}

/// Every item got by exactly one consumer.
fn check(round: u32, q: &Queue<Msg>, seen: &[Seen]) {
    for p in 0..PRODUCERS as usize {
        for word in 0..seen[0][p].len() {
            let mut union = 0u64;
            for s in seen {
                assert_eq!(
                    union & s[p][word],
                    0,
                    "round {round}, producer {p}: an item near {} got twice",
                    word * 64
                );
                union |= s[p][word];
            }
            let bits = (PER_PRODUCER as usize - word * 64).min(64);
            let want = if bits == 64 {
                u64::MAX
            } else {
                (1 << bits) - 1
            };
            assert_eq!(
                union,
                want,
                "round {round}, producer {p}: items lost near {}",
                word * 64
            );
        }
    }
    assert!(q.is_empty(), "round {round}: items left over");
    assert_eq!(q.torn(), 0, "round {round}");
}

/// Runs rounds for [`RUN_FOR`]; returns how many.
fn rounds(mut one: impl FnMut(&Queue<Msg>) -> Vec<Seen>) -> u32 {
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < RUN_FOR {
        let q = fresh_queue();
        let seen = one(&q);
        check(round, &q, &seen);
        round += 1;
    }
    round
}

#[test]
fn threads_get_every_item_exactly_once_while_owners_change() {
    let _d = deadline(Duration::from_secs(180));
    let rounds = rounds(|q| {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || consume(q))
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || produce(q, p))
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(rounds > 0);
}

#[test]
fn processes_get_every_item_exactly_once_while_owners_change() {
    let _d = deadline(Duration::from_secs(180));
    let rounds = rounds(|q| {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| spawn(consume, (q.clone(),)).unwrap())
            .collect();
        let producers: Vec<Process> = (0..PRODUCERS)
            .map(|p| {
                let mut child = Process::new(produce, (q.clone(), p));
                child.start().unwrap();
                child
            })
            .collect();
        for p in &producers {
            assert_eq!(p.join_timeout(Duration::from_secs(120)).unwrap(), Some(0));
        }
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(rounds > 0);
}
