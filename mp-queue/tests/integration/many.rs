//! Many producers and consumers at once: every item exactly once, each
//! producer's items in order.

use std::time::Duration;

use mp_process::{Process, spawn};
use mp_queue::Queue;
use mp_testkit::deadline;

use crate::{SECS, T};

const PRODUCERS: u32 = 4;
const CONSUMERS: u32 = 4;
const PER_PRODUCER: u32 = 1_000_000;

fn produce(q: Queue<Option<(u32, u32)>>, producer: u32) {
    for seq in 0..PER_PRODUCER {
        q.put_timeout(&Some((producer, seq)), T).unwrap();
    }
}

/// Returns, per producer, a bitmap of the items this consumer got;
/// panics if one producer's items came out of order.
fn consume(q: Queue<Option<(u32, u32)>>) -> Vec<Vec<u64>> {
    let mut seen = vec![vec![0u64; (PER_PRODUCER as usize).div_ceil(64)]; PRODUCERS as usize];
    let mut last = vec![None::<u32>; PRODUCERS as usize];
    while let Some((producer, seq)) = q.get_timeout(T).unwrap() {
        let p = producer as usize;
        assert!(
            last[p] < Some(seq),
            "producer {p}: {seq} after {:?}",
            last[p]
        );
        last[p] = Some(seq);
        seen[p][seq as usize / 64] |= 1 << (seq % 64);
    }
    seen
}

#[test]
fn four_producers_four_consumers_a_million_items_each_exactly_once_in_order() {
    let _d = deadline(600 * SECS);
    let q: Queue<Option<(u32, u32)>> = Queue::new().unwrap();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| spawn(consume, (q.clone(),)).unwrap())
        .collect();
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|i| {
            let mut p = Process::new(produce, (q.clone(), i));
            p.start().unwrap();
            p
        })
        .collect();
    for p in &producers {
        assert_eq!(p.join_timeout(Duration::from_secs(500)).unwrap(), Some(0));
    }
    for _ in 0..CONSUMERS {
        q.put(&None).unwrap();
    }
    let maps: Vec<Vec<Vec<u64>>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    for p in 0..PRODUCERS as usize {
        for word in 0..maps[0][p].len() {
            let mut union = 0u64;
            for m in &maps {
                assert_eq!(
                    union & m[p][word],
                    0,
                    "producer {p}: an item was delivered twice"
                );
                union |= m[p][word];
            }
            let bits = (PER_PRODUCER as usize - word * 64).min(64);
            let want = if bits == 64 {
                u64::MAX
            } else {
                (1 << bits) - 1
            };
            assert_eq!(union, want, "producer {p}: items lost near {}", word * 64);
        }
    }
    assert_eq!(q.torn(), 0);
    assert!(q.is_empty());
}
