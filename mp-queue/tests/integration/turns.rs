//! A thread that puts (or gets) alone keeps its side of the queue without
//! the lock; anyone else who wants a turn takes that away. These tests pin
//! the hand-overs: between processes, threads and a forked child, from an
//! owner that is idle, dead while idle, or dead in the middle of a put.

use std::time::{Duration, Instant};

use mp_pipe::{Connection, pipe};
use mp_process::Process;
use mp_queue::{Error, Queue, QueueBuilder};
use mp_testkit::{deadline, eventually};
use serde::{Deserialize, Serialize};

use crate::{SECS, T, asleep};

/// Enough turns in a row to own a side (the first bias needs 64).
const ALONE: u32 = 200;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    from: u32,
    seq: u32,
    body: Vec<u8>,
}

fn item(from: u32, seq: u32) -> Item {
    Item {
        from,
        seq,
        body: vec![(from * 31 + seq) as u8; (seq as usize * 13) % 700],
    }
}

fn started(mut p: Process) -> Process {
    p.start().unwrap();
    p
}

/// Puts `ALONE` items (owning the producers' side), reports, then waits.
fn put_alone_then_wait(q: Queue<Item>, report: Connection) {
    for seq in 0..ALONE {
        q.put_timeout(&item(1, seq), T).unwrap();
    }
    report.send(&()).unwrap();
    // Idle but alive until the parent says go (or is gone).
    if report.recv_timeout::<()>(T).is_ok() {
        // The parent took a turn meanwhile: this one takes the side back.
        q.put_timeout(&item(1, ALONE), T).unwrap();
        report.send(&()).unwrap();
    }
}

#[test]
fn an_idle_owner_in_a_live_process_hands_over_at_once() {
    let _d = deadline(60 * SECS);
    let q: Queue<Item> = Queue::new().unwrap();
    let (ours, theirs) = pipe().unwrap();
    let child = started(Process::new(put_alone_then_wait, (q.clone(), theirs)));
    ours.recv_timeout::<()>(T).unwrap();
    // The child owns the producers' side and is idle: even a put that may
    // not wait at all gets its turn.
    q.try_put(&item(0, 0)).unwrap();
    for seq in 0..ALONE {
        assert_eq!(q.try_get().unwrap(), item(1, seq));
    }
    assert_eq!(q.try_get().unwrap(), item(0, 0));
    // And back: the child takes a turn from the parent's side of things.
    ours.send(&()).unwrap();
    ours.recv_timeout::<()>(T).unwrap();
    assert_eq!(q.get_timeout(T).unwrap(), item(1, ALONE));
    assert_eq!(child.join_timeout(T).unwrap(), Some(0));
    assert_eq!(q.torn(), 0);
}

fn get_alone_then_wait(q: Queue<u32>, report: Connection) {
    for seq in 0..ALONE {
        assert_eq!(q.get_timeout(T).unwrap(), seq);
    }
    report.send(&()).unwrap();
    let _ = report.recv_timeout::<()>(T);
}

#[test]
fn an_idle_consumer_owner_hands_over_at_once() {
    let _d = deadline(60 * SECS);
    let q: Queue<u32> = Queue::new().unwrap();
    for seq in 0..ALONE {
        q.put(&seq).unwrap();
    }
    let (ours, theirs) = pipe().unwrap();
    let child = started(Process::new(get_alone_then_wait, (q.clone(), theirs)));
    ours.recv_timeout::<()>(T).unwrap();
    q.put(&7).unwrap();
    assert_eq!(q.try_get().unwrap(), 7);
    ours.send(&()).unwrap();
    assert_eq!(child.join_timeout(T).unwrap(), Some(0));
}

/// Takes `ALONE` items (owning the consumers' side), reports, then waits
/// inside a get for an item that does not come.
fn get_alone_then_block(q: Queue<u32>, report: Connection) {
    for seq in 0..ALONE {
        assert_eq!(q.get_timeout(T).unwrap(), seq);
    }
    report.send(&()).unwrap();
    let _ = q.get_timeout(T);
}

#[test]
fn a_short_timeout_notices_an_owner_that_died_mid_get() {
    let _d = deadline(60 * SECS);
    let q: Queue<u32> = Queue::new().unwrap();
    for seq in 0..ALONE {
        q.put(&seq).unwrap();
    }
    let (ours, theirs) = pipe().unwrap();
    let child = started(Process::new(get_alone_then_block, (q.clone(), theirs)));
    ours.recv_timeout::<()>(T).unwrap();
    asleep_in_its_wait(&child);
    child.kill().unwrap();
    assert_eq!(child.join_timeout(T).unwrap(), Some(-9));
    q.put(&7).unwrap();
    // Far shorter than the interval at which waits look for dead owners:
    // the wait still looks once before it gives up.
    assert_eq!(q.get_timeout(Duration::from_millis(5)).unwrap(), 7);
}

#[test]
fn an_owner_killed_while_idle_loses_nothing() {
    let _d = deadline(60 * SECS);
    let q: Queue<Item> = Queue::new().unwrap();
    let (ours, theirs) = pipe().unwrap();
    let child = started(Process::new(put_alone_then_wait, (q.clone(), theirs)));
    ours.recv_timeout::<()>(T).unwrap();
    child.kill().unwrap();
    assert_eq!(child.join_timeout(T).unwrap(), Some(-9));
    q.put_timeout(&item(0, 0), T).unwrap();
    for seq in 0..ALONE {
        assert_eq!(q.get_timeout(T).unwrap(), item(1, seq));
    }
    assert_eq!(q.get_timeout(T).unwrap(), item(0, 0));
    assert_eq!(q.torn(), 0, "an idle owner's death tears nothing");
}

/// Puts until the bounded queue is full and blocks in the next put.
fn put_until_blocked(q: Queue<Item>) {
    for seq in 0.. {
        if q.put_timeout(&item(1, seq), T).is_err() {
            return;
        }
    }
}

/// Waits until `child` sleeps: the children here have nothing to sleep on
/// but the queue wait they were sent into.
fn asleep_in_its_wait(child: &Process) {
    asleep(child.pid().unwrap());
}

/// A child that owns the producers' side of a full bounded queue and waits
/// for room inside a put.
fn owner_blocked_in_a_put() -> (Queue<Item>, Process) {
    let q: Queue<Item> = Queue::with_maxsize(ALONE as usize).unwrap();
    let child = started(Process::new(put_until_blocked, (q.clone(),)));
    assert!(eventually(T, || q.is_full()));
    asleep_in_its_wait(&child);
    (q, child)
}

#[test]
fn an_owner_killed_in_the_middle_of_a_put_is_taken_over() {
    let _d = deadline(60 * SECS);
    let (q, child) = owner_blocked_in_a_put();
    child.kill().unwrap();
    assert_eq!(child.join_timeout(T).unwrap(), Some(-9));
    for seq in 0..ALONE {
        assert_eq!(q.get_timeout(T).unwrap(), item(1, seq));
    }
    let start = Instant::now();
    q.put_timeout(&item(0, 0), T).unwrap();
    assert!(start.elapsed() < 5 * SECS, "took {:?}", start.elapsed());
    assert_eq!(q.get_timeout(T).unwrap(), item(0, 0));
    // The put it died in counts as torn (it never became visible).
    assert_eq!(q.torn(), 1);
}

/// The owner's next item: larger than the room its first `ALONE` items
/// leave in a 256 KiB ring (about 190 KB), smaller than the ring.
fn too_big_for_the_rest() -> Item {
    Item {
        from: 1,
        seq: ALONE,
        body: vec![9; 200_000],
    }
}

/// Owns the producers' side, reports, then waits for room inside a put.
fn own_then_wait_for_room(q: Queue<Item>, report: Connection) {
    for seq in 0..ALONE {
        q.put_timeout(&item(1, seq), T).unwrap();
    }
    report.send(&()).unwrap();
    q.put_timeout(&too_big_for_the_rest(), T).unwrap();
}

/// While the owner is busy in a put, another put gets no turn: it waits as
/// long as it asked, not longer, and changes nothing. Its item fits the
/// free space, so a turn taken from the busy owner would put it.
#[test]
fn a_revocation_waits_only_as_long_as_asked() {
    let _d = deadline(60 * SECS);
    let q: Queue<Item> = QueueBuilder::new().ring_size(256 << 10).build().unwrap();
    let (ours, theirs) = pipe().unwrap();
    let child = started(Process::new(own_then_wait_for_room, (q.clone(), theirs)));
    ours.recv_timeout::<()>(T).unwrap();
    asleep_in_its_wait(&child);
    assert!(matches!(q.try_put(&item(0, 0)), Err(Error::Full)));
    let start = Instant::now();
    let waited = q.put_timeout(&item(0, 0), Duration::from_millis(200));
    let took = start.elapsed();
    assert!(matches!(waited, Err(Error::Full)), "{waited:?}");
    // The owner waits for room for up to 20 s: a revocation that waited
    // for it instead of the deadline would take that long.
    assert!(
        took >= Duration::from_millis(200) && took < 5 * SECS,
        "took {took:?}"
    );
    // The owner's put goes on once there is room; nothing of ours got in.
    for seq in 0..ALONE {
        assert_eq!(q.get_timeout(T).unwrap(), item(1, seq));
    }
    assert_eq!(q.get_timeout(T).unwrap(), too_big_for_the_rest());
    assert_eq!(child.join_timeout(T).unwrap(), Some(0));
    assert!(matches!(q.try_get(), Err(Error::Empty)));
    // The side passes on from the owner that left.
    q.put_timeout(&item(0, 1), T).unwrap();
    assert_eq!(q.get_timeout(T).unwrap(), item(0, 1));
    assert_eq!(q.torn(), 0);
}

#[test]
fn threads_that_take_turns_never_share_one() {
    let _d = deadline(120 * SECS);
    const PRODUCERS: u32 = 4;
    const PER: u32 = 50_000;
    let q: Queue<Option<Item>> = QueueBuilder::new().ring_size(256 << 10).build().unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut last = vec![None::<u32>; PRODUCERS as usize];
                let mut got = Vec::new();
                while let Some(it) = q.get_timeout(T).unwrap() {
                    assert_eq!(it, item(it.from, it.seq), "corrupted");
                    let p = it.from as usize;
                    assert!(last[p] < Some(it.seq), "out of order");
                    last[p] = Some(it.seq);
                    got.push((it.from, it.seq));
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|from| {
            let q = q.clone();
            std::thread::spawn(move || {
                for seq in 0..PER {
                    q.put_timeout(&Some(item(from, seq)), T).unwrap();
                    // Bursts and pauses, so owners come and go.
                    if seq % 5_000 == from * 1000 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.put(&None).unwrap();
    q.put(&None).unwrap();
    let mut all: Vec<(u32, u32)> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    let want: Vec<(u32, u32)> = (0..PRODUCERS)
        .flat_map(|from| (0..PER).map(move |seq| (from, seq)))
        .collect();
    assert!(all == want, "items lost or doubled");
    assert_eq!(q.torn(), 0);
}

fn put_range(q: Queue<Item>, from: u32, n: u32) {
    for seq in 0..n {
        q.put_timeout(&item(from, seq), T).unwrap();
    }
}

/// A forked child holds a copy of this process's queue handle, which
/// remembers the bias this thread owns; parent and child then put at the
/// same time. The child's own key (its pid) keeps it on the lock. (The fork
/// hook that renews a copied thread key is not exercised here: mp-process
/// runs the child on a thread that never had a key.)
#[test]
fn a_forked_child_holding_the_owners_handle_takes_turns_with_it() {
    let _d = deadline(60 * SECS);
    const N: u32 = 20_000;
    let q: Queue<Item> = QueueBuilder::new().ring_size(1 << 20).build().unwrap();
    // This thread owns the producers' side when it forks.
    for seq in 0..ALONE {
        q.put(&item(0, seq)).unwrap();
    }
    // A captured clone: this process's memory, not a fresh handle.
    let child = started(Process::from_closure({
        let q = q.clone();
        move || put_range(q, 1, N)
    }));
    let consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut next = [0u32; 2];
            while next != [ALONE + N, N] {
                let it = q.get_timeout(T).unwrap();
                assert_eq!(it, item(it.from, it.seq), "corrupted");
                assert_eq!(it.seq, next[it.from as usize], "out of order");
                next[it.from as usize] += 1;
            }
        })
    };
    for seq in ALONE..ALONE + N {
        q.put_timeout(&item(0, seq), T).unwrap();
    }
    assert_eq!(child.join_timeout(T).unwrap(), Some(0));
    consumer.join().unwrap();
    assert_eq!(q.torn(), 0);
}
