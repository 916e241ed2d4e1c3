//! Queues between processes: every start method, wake-ups, big messages,
//! joinable queues with workers.

use std::time::Duration;

use mp_process::{Process, StartMethod, spawn};
use mp_queue::{Error, JoinableQueue, Queue, QueueBuilder};
use mp_testkit::deadline;
use serde_bytes::ByteBuf;

use crate::{SECS, T};

fn square_list(numbers: Vec<u32>, q: Queue<u32>) {
    for n in numbers {
        q.put_timeout(&(n * n), T).unwrap();
    }
}

#[test]
fn a_queue_is_a_child_argument_under_every_start_method() {
    let _d = deadline(30 * SECS);
    for m in StartMethod::ALL {
        let q = Queue::new().unwrap();
        let mut p = Process::new(square_list, (vec![1, 2, 3, 4], q.clone())).start_method(m);
        p.start().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        let got: Vec<u32> = (0..4).map(|_| q.get_timeout(T).unwrap()).collect();
        assert_eq!(got, [1, 4, 9, 16], "{m}");
        assert!(q.is_empty());
    }
}

/// Pauses around the waiters' spin time (20 µs): some gets find the
/// item while spinning, others fall asleep just before it is put.
fn pause(i: u32) {
    let micros = [0, 5, 15, 25, 40, 80, 200][i as usize % 7];
    if micros > 0 {
        std::thread::sleep(Duration::from_micros(micros));
    }
}

const ROUND_TRIPS: u32 = 700;

fn echo_with_pauses(requests: Queue<u32>, replies: Queue<u32>) {
    for i in 0..ROUND_TRIPS {
        let n = requests.get_timeout(T).unwrap();
        pause(i * 3);
        replies.put_timeout(&(n + 1), T).unwrap();
    }
}

fn ping_pong(requests: &Queue<u32>, replies: &Queue<u32>, what: &str) {
    for i in 0..ROUND_TRIPS {
        pause(i);
        requests.put(&i).unwrap();
        // A lost wake-up would leave this get asleep for its whole
        // sleep slice (an hour): the timeout turns that into a failure.
        match replies.get_timeout(5 * SECS) {
            Ok(n) => assert_eq!(n, i + 1, "{what}"),
            Err(e) => panic!("{what}: round trip {i}: {e}"),
        }
    }
}

/// Waiters that fall asleep are always woken: under every start method,
/// and in a forked child that inherited the queue (and the parent's
/// wake-up set-up) by capture.
#[test]
fn wakeups_are_never_lost_under_any_start_method() {
    let _d = deadline(120 * SECS);
    for m in StartMethod::ALL {
        let (requests, replies) = (Queue::new().unwrap(), Queue::new().unwrap());
        let mut p =
            Process::new(echo_with_pauses, (requests.clone(), replies.clone())).start_method(m);
        p.start().unwrap();
        ping_pong(&requests, &replies, &m.to_string());
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    }
    let (requests, replies) = (Queue::new().unwrap(), Queue::new().unwrap());
    // This process has put and been woken before it forks.
    requests.put(&0).unwrap();
    assert_eq!(requests.get().unwrap(), 0);
    let mut p = Process::from_closure({
        let (requests, replies) = (requests.clone(), replies.clone());
        move || echo_with_pauses(requests, replies)
    });
    p.start().unwrap();
    ping_pong(&requests, &replies, "a captured queue in a forked child");
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}

fn put_many_and_exit(q: Queue<u64>, n: u64) {
    for i in 0..n {
        q.put_timeout(&i, T).unwrap();
    }
}

#[test]
fn joining_a_producer_before_draining_neither_deadlocks_nor_loses_items() {
    let _d = deadline(60 * SECS);
    let q: Queue<u64> = Queue::new().unwrap();
    let mut p = Process::new(put_many_and_exit, (q.clone(), 200_000));
    p.start().unwrap();
    // CPython deadlocks here once the items outgrow a 64 KiB pipe.
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    assert_eq!(q.qsize(), 200_000);
    for i in 0..200_000 {
        assert_eq!(q.try_get().unwrap(), i);
    }
    assert!(matches!(q.try_get(), Err(Error::Empty)));
}

/// `len` bytes counting up modulo 251 (a period that is no power of two),
/// made by the optimized `repeat` (a debug-build loop over 256 MiB took
/// longer than a get's timeout on a busy machine).
fn counting_bytes(len: usize) -> Vec<u8> {
    let period: Vec<u8> = (0..251).collect();
    let mut bytes = period.repeat(len.div_ceil(251));
    bytes.truncate(len);
    bytes
}

fn stream_big(q: Queue<ByteBuf>, len: usize) {
    q.put_timeout(&ByteBuf::from(counting_bytes(len)), T)
        .unwrap();
    q.put_timeout(&ByteBuf::from(vec![1, 2, 3]), T).unwrap();
}

#[test]
fn a_256_mib_message_streams_through_a_16_mib_ring() {
    let _d = deadline(120 * SECS);
    let len = 256 << 20;
    let q: Queue<ByteBuf> = Queue::new().unwrap();
    let mut p = Process::new(stream_big, (q.clone(), len));
    p.start().unwrap();
    let big = q.get_timeout(T).unwrap();
    assert!(
        *big == counting_bytes(len),
        "the message changed on the way"
    );
    drop(big);
    assert_eq!(q.get_timeout(T).unwrap().as_slice(), [1, 2, 3]);
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    assert_eq!(q.torn(), 0);
}

fn stream_vec(q: Queue<Vec<u8>>, len: usize) {
    q.put_timeout(&(0..len).map(|i| (i % 13) as u8).collect(), T)
        .unwrap();
}

#[test]
fn a_plain_vec_larger_than_the_ring_streams_too() {
    // serde sends a Vec<u8> byte by byte: the streaming path must take that.
    let _d = deadline(60 * SECS);
    let q: Queue<Vec<u8>> = QueueBuilder::new().ring_size(64 << 10).build().unwrap();
    let mut p = Process::new(stream_vec, (q.clone(), 4 << 20));
    p.start().unwrap();
    let got = q.get_timeout(T).unwrap();
    assert_eq!(got.len(), 4 << 20);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 13) as u8));
    assert_eq!(p.join_timeout(T).unwrap(), Some(0));
}

fn work(tasks: JoinableQueue<u32>, results: Queue<u32>) {
    loop {
        let task = tasks.get_timeout(T).unwrap();
        if task == u32::MAX {
            tasks.task_done().unwrap();
            return;
        }
        results.put_timeout(&(task * 2), T).unwrap();
        tasks.task_done().unwrap();
    }
}

#[test]
fn a_joinable_queue_with_four_workers() {
    let _d = deadline(60 * SECS);
    let tasks: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    let results: Queue<u32> = Queue::new().unwrap();
    let workers: Vec<Process> = (0..4)
        .map(|_| {
            let mut p = Process::new(work, (tasks.clone(), results.clone()));
            p.start().unwrap();
            p
        })
        .collect();
    for t in 0..1000 {
        tasks.put(&t).unwrap();
    }
    tasks.join_timeout(T).unwrap();
    assert_eq!(tasks.unfinished_tasks(), 0);
    let mut got: Vec<u32> = (0..1000).map(|_| results.get_timeout(T).unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..1000).map(|t| t * 2).collect::<Vec<_>>());
    for _ in &workers {
        tasks.put(&u32::MAX).unwrap();
    }
    for w in &workers {
        assert_eq!(w.join_timeout(T).unwrap(), Some(0));
    }
}

fn idle_get_cpu_ticks(q: Queue<u8>) -> u64 {
    let _ = q.get_timeout(Duration::from_millis(500));
    cpu_ticks()
}

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_blocked_get_sleeps_instead_of_burning_cpu() {
    let _d = deadline(30 * SECS);
    let q: Queue<u8> = Queue::new().unwrap();
    let before = spawn(cpu_ticks, ()).unwrap().join().unwrap();
    let ticks = spawn(idle_get_cpu_ticks, (q,)).unwrap().join().unwrap();
    // Half a second blocked: a busy loop would be ~50 ticks.
    assert!(
        ticks <= before + 5,
        "{ticks} ticks of CPU while idle (baseline {before})"
    );
}
