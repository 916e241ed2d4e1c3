//! W6: manager calls (list append, dict set, value get) beside the floor
//! they are made of, a raw `Pipe` round trip to a child process that echoes.
//!
//! Every manager call is one request/reply on a Unix socket to the server
//! process, so the target is <= 1.3x the pipe round trip (CPython: 25-60 us
//! per call).
//!
//! Each bench alternates blocks of its own calls with blocks of the other
//! side's (see `alternating`), so the pipe and the manager are measured
//! under the same conditions. Do not pin the bench to one core: the pipe's
//! wait polls for 30 us before it sleeps, which a peer on the same core
//! then has to wait out on every hop.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mp_manager::Manager;
use mp_pipe::Connection;
use mp_process::Process;

fn echo(conn: Connection) {
    while let Ok(value) = conn.recv::<u64>() {
        if conn.send(&value).is_err() {
            break;
        }
    }
}

/// Calls per block. Every sample alternates blocks of the measured call
/// with blocks of the other side of the comparison (untimed), so that the
/// pipe round trip and the manager calls are measured under the same
/// conditions: on a small VM the placement of the three processes drifts
/// over seconds, and benches measured one after the other disagreed by up
/// to 2x from run to run.
const BLOCK: u64 = 200;

/// How many items the appended list holds at most: it is cleared (untimed)
/// when it gets there, so the bench measures calls, not the server's memory
/// growing by hundreds of MB (on a VM, first touches of fresh memory are
/// page faults that cost the host too).
const LIST_KEEPS: u64 = 100_000;

/// Times `n` calls of `measured`, interleaved in blocks with as many
/// untimed calls of `other`.
fn alternating(n: u64, mut measured: impl FnMut(), mut other: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let block = left.min(BLOCK);
        for _ in 0..block {
            other();
        }
        let start = Instant::now();
        for _ in 0..block {
            measured();
        }
        total += start.elapsed();
        left -= block;
    }
    total
}

fn manager(c: &mut Criterion) {
    let mut group = c.benchmark_group("manager");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let (ours, theirs) = mp_pipe::pipe().unwrap();
    let mut child = Process::new(echo, (theirs,));
    child.start().unwrap();
    let mut n = 0u64;
    let mut pipe_roundtrip = || {
        n += 1;
        ours.send(&n).unwrap();
        black_box(ours.recv::<u64>().unwrap());
    };

    let manager = Manager::start().unwrap();
    let list = manager.list::<u64>().unwrap();
    let dict = manager.dict::<u64, u64>().unwrap();
    let value = manager.value(&42u64).unwrap();
    let value_get = || {
        black_box(value.get().unwrap());
    };

    group.bench_function("pipe_roundtrip", |b| {
        b.iter_custom(|iters| alternating(iters, &mut pipe_roundtrip, value_get))
    });

    let n = std::cell::Cell::new(0u64);
    let mut cleared_at = 0;
    group.bench_function("list_append", |b| {
        b.iter_custom(|iters| {
            alternating(
                iters,
                || {
                    n.set(n.get() + 1);
                    list.append(&n.get()).unwrap();
                },
                || {
                    if n.get() - cleared_at >= LIST_KEEPS {
                        list.clear().unwrap();
                        cleared_at = n.get();
                    }
                    pipe_roundtrip();
                },
            )
        })
    });

    let mut n = 0u64;
    group.bench_function("dict_set", |b| {
        b.iter_custom(|iters| {
            alternating(
                iters,
                || {
                    n += 1;
                    black_box(dict.insert(&(n % 1024), &n).unwrap());
                },
                &mut pipe_roundtrip,
            )
        })
    });

    group.bench_function("value_get", |b| {
        b.iter_custom(|iters| alternating(iters, value_get, &mut pipe_roundtrip))
    });
    group.finish();
    drop((list, dict, value));
    manager.shutdown().unwrap();
    drop(ours);
    child.join().unwrap();
}

criterion_group!(benches, manager);
criterion_main!(benches);
