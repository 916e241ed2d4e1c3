//! Producers and consumers killed in the middle of a put or a get: only
//! the message in flight is lost.

use std::time::Duration;

use mp_pipe::{Connection, pipe};
use mp_process::Process;
use mp_queue::{Error, Queue, QueueBuilder};
use mp_shm::RawValue;
use mp_testkit::deadline;
use serde::{Deserialize, Serialize};

use crate::{SECS, T};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    id: u32,
    body: Vec<u8>,
}

/// Every seventh item is larger than the ring, so some kills land in
/// the middle of a streamed message.
fn item(id: u32) -> Item {
    let len = if id % 7 == 3 {
        150_000
    } else {
        (id as usize * 37) % 3000
    };
    Item {
        id,
        body: vec![(id % 256) as u8; len],
    }
}

fn check(got: &Item) {
    assert_eq!(got, &item(got.id), "item {} corrupted", got.id);
}

fn small_ring<T>() -> Queue<T> {
    QueueBuilder::new().ring_size(64 << 10).build().unwrap()
}

/// Puts items 0, 1, 2, ... until killed; after each put that returned Ok,
/// records in `acked` how many ids were put.
fn produce_until_killed(q: Queue<Item>, acked: RawValue<u32>) {
    for id in 0.. {
        q.put_timeout(&item(id), T).unwrap();
        acked.store(id + 1);
    }
}

/// Gets items and reports their ids until killed (or, if the test failed
/// and no item comes, for `T`).
fn consume_and_report(q: Queue<Item>, report: Connection) {
    loop {
        match q.get_timeout(T) {
            Ok(item) => {
                check(&item);
                report.send(&item.id).unwrap();
            }
            Err(Error::Torn) => {}
            Err(Error::Empty) => return,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Drains the queue, checking every item, until it is empty and
/// `done()` says no more will come; returns the ids and how many torn
/// messages were met.
fn drain(q: &Queue<Item>, done: impl Fn() -> bool) -> (Vec<u32>, usize) {
    let mut ids = Vec::new();
    let mut torn = 0;
    loop {
        match q.get_timeout(Duration::from_millis(30)) {
            Ok(item) => {
                check(&item);
                ids.push(item.id);
            }
            Err(Error::Torn) => torn += 1,
            Err(Error::Empty) if done() => return (ids, torn),
            Err(Error::Empty) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

fn pseudo_random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Every id whose put returned Ok arrives, in order, exactly once; only
/// the put the kill interrupted may be lost, and it counts as torn at most
/// once. Some kill must land in the middle of a put (the producer keeps
/// the ring full, so it mostly waits for room inside one).
#[test]
fn a_producer_killed_mid_put_loses_only_that_item() {
    let _d = deadline(300 * SECS);
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut torn_trials = 0;
    for trial in 0..100 {
        let q: Queue<Item> = small_ring();
        let acked = RawValue::new(0u32).unwrap();
        let mut p = Process::new(produce_until_killed, (q.clone(), acked.clone()));
        p.start().unwrap();
        // Let it fill the ring, then take some, then kill it at a random
        // moment (the pause only spreads the kills; nothing waits on it).
        let mut ids = Vec::new();
        let take = pseudo_random(&mut seed) % 40;
        while (ids.len() as u64) < take {
            match q.get_timeout(T) {
                Ok(item) => {
                    check(&item);
                    ids.push(item.id);
                }
                Err(e) => panic!("trial {trial}: {e}"),
            }
        }
        std::thread::sleep(Duration::from_micros(pseudo_random(&mut seed) % 3000));
        p.kill().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(-9));
        let acked = acked.load();
        let (rest, torn_met) = drain(&q, || true);
        ids.extend(rest);
        // A prefix of the items, in order, exactly once.
        assert_eq!(
            ids,
            (0..ids.len() as u32).collect::<Vec<_>>(),
            "trial {trial}"
        );
        let arrived = ids.len() as u32;
        assert!(
            arrived >= acked,
            "trial {trial}: puts of ids below {acked} returned Ok, only {arrived} arrived"
        );
        // The only other id that may have arrived is the one in flight.
        assert!(arrived <= acked + 1, "trial {trial}: {arrived} of {acked}");
        // The queue still works (this put repairs the producers' side and
        // counts a message the dead producer never made visible).
        q.put_timeout(&item(1_000_000), T).unwrap();
        assert_eq!(q.get_timeout(T).unwrap(), item(1_000_000), "trial {trial}");
        assert!(
            torn_met <= 1 && q.torn() <= 1,
            "trial {trial}: one death, {} torn",
            q.torn()
        );
        if q.torn() > 0 {
            torn_trials += 1;
        }
    }
    assert!(torn_trials > 0, "no kill landed in the middle of a put");
}

#[test]
fn a_consumer_killed_mid_get_loses_only_that_item() {
    let _d = deadline(300 * SECS);
    let mut seed = 0x2545_f491_4f6c_dd1d;
    for trial in 0..100 {
        let q: Queue<Item> = small_ring();
        let total = 60 + (pseudo_random(&mut seed) % 60) as u32;
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for id in 0..total {
                    q.put_timeout(&item(id), T).unwrap();
                }
            })
        };
        let (reports, report_w) = pipe().unwrap();
        let mut c = Process::new(consume_and_report, (q.clone(), report_w));
        c.start().unwrap();
        std::thread::sleep(Duration::from_micros(pseudo_random(&mut seed) % 5000));
        c.kill().unwrap();
        assert_eq!(c.join_timeout(T).unwrap(), Some(-9));
        let mut ids = Vec::new();
        while let Ok(id) = reports.recv_timeout::<u32>(Duration::from_millis(50)) {
            ids.push(id);
        }
        // The producer may be waiting for room only a consumer makes.
        let (rest, _) = drain(&q, || producer.is_finished());
        producer.join().unwrap();
        ids.extend(&rest);
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            ids.len(),
            "trial {trial}: an item was delivered twice"
        );
        let missing: Vec<u32> = (0..total)
            .filter(|id| sorted.binary_search(id).is_err())
            .collect();
        assert!(missing.len() <= 1, "trial {trial}: lost {missing:?}");
        assert!(q.torn() <= 1, "trial {trial}: one death, {} torn", q.torn());
    }
}
