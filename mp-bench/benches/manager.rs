//! W6: manager calls (list append, dict set, value get) beside the floor
//! they are made of, a raw `Pipe` round trip to a child process that echoes.
//!
//! Every manager call is one request/reply to the server process on a
//! pipe whose ends share memory (the client moves its Unix socket
//! connection onto one), so the target is <= 1.3x the pipe round trip
//! (CPython: 25-60 us per call).
//!
//! Each bench alternates blocks of its own calls with blocks of the other
//! side's (see `alternating`), so the pipe and the manager are measured
//! under the same conditions; each manager bench also times the pipe blocks
//! run between its own and writes their median beside criterion's results
//! (`write_beside`): the floor at the same moments, which `bench_report`
//! compares the call with. `dict_set` is Python's `d[k] = v`
//! (`DictProxy::set`, no old value back).

use std::hint::black_box;
use std::time::{Duration, Instant};

mod report_files;

use criterion::{Criterion, criterion_group};
use mp::manager::Manager;
use mp::pipe::Connection;
use mp::process::Process;

fn echo(conn: Connection) {
    while let Ok(value) = conn.recv::<u64>() {
        if conn.send(&value).is_err() {
            break;
        }
    }
}

/// Calls per block. Every sample alternates blocks of the measured call
/// with blocks of the other side of the comparison, so that the
/// pipe round trip and the manager calls are measured under the same
/// conditions: on a small VM the placement of the three processes drifts
/// over seconds, and benches measured one after the other disagreed by up
/// to 2x from run to run. A block lasts a few milliseconds: the peer that
/// slept through the other side's block (its spin ran out) costs its
/// block's first call a wake-up of 30-60 us, which blocks of 200 calls
/// spread as 0.15-0.3 us over every call of both sides (measured: manager
/// calls 2.0-2.2 us with blocks of 200, 1.7-1.8 us with 2000; the pipe
/// 1.4 and 1.1-1.2 us).
const BLOCK: u64 = 2000;

/// How many items the appended list holds before it is cleared (between
/// samples, untimed), so the bench measures calls, not the server's memory
/// growing by hundreds of MB (on a VM, first touches of fresh memory are
/// page faults that cost the host too).
const LIST_KEEPS: u64 = 100_000;

/// Times `n` calls of `measured`, interleaved in blocks with as many calls
/// of `other`; returns the time of the `measured` calls, and notes the time
/// per call of each full block of `other` in `beside`.
fn alternating(
    n: u64,
    mut measured: impl FnMut(),
    mut other: impl FnMut(),
    beside: &mut Vec<f64>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let block = left.min(BLOCK);
        let start = Instant::now();
        for _ in 0..block {
            other();
        }
        if block == BLOCK {
            beside.push(start.elapsed().as_nanos() as f64 / block as f64);
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

/// Writes the median time per pipe round trip of the blocks run between
/// manager bench `name`'s own (the same moments as its samples: on a
/// small VM, benches measured one after the other can differ by 1.5x) as
/// `criterion/manager/{name}/paired.json`, which `bench_report` reads as
/// the benchmark `manager/{name}/pipe_roundtrip_beside`.
fn write_beside(name: &str, beside: &mut Vec<f64>) {
    if beside.is_empty() {
        return;
    }
    beside.sort_by(f64::total_cmp);
    let median = beside[beside.len() / 2];
    let json = format!(
        "{{\"full_id\":\"manager/{name}/pipe_roundtrip_beside\",\"median_ns\":{median}}}\n"
    );
    report_files::write(format!("manager/{name}/paired.json"), &json);
    beside.clear();
}

fn manager(c: &mut Criterion) {
    let mut group = c.benchmark_group("manager");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let (ours, theirs) = mp::pipe::pipe().unwrap();
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

    let mut beside = Vec::new();
    group.bench_function("pipe_roundtrip", |b| {
        b.iter_custom(|iters| alternating(iters, &mut pipe_roundtrip, value_get, &mut beside))
    });
    // Here the blocks beside were manager calls: not a floor.
    beside.clear();

    let n = std::cell::Cell::new(0u64);
    let mut cleared_at = 0;
    group.bench_function("list_append", |b| {
        b.iter_custom(|iters| {
            // Between samples: criterion times only what this returns.
            if n.get() - cleared_at >= LIST_KEEPS {
                list.clear().unwrap();
                cleared_at = n.get();
            }
            alternating(
                iters,
                || {
                    n.set(n.get() + 1);
                    list.append(&n.get()).unwrap();
                },
                &mut pipe_roundtrip,
                &mut beside,
            )
        })
    });
    write_beside("list_append", &mut beside);

    let mut n = 0u64;
    group.bench_function("dict_set", |b| {
        b.iter_custom(|iters| {
            alternating(
                iters,
                || {
                    n += 1;
                    dict.set(&(n % 1024), &n).unwrap();
                },
                &mut pipe_roundtrip,
                &mut beside,
            )
        })
    });
    write_beside("dict_set", &mut beside);

    group.bench_function("value_get", |b| {
        b.iter_custom(|iters| alternating(iters, value_get, &mut pipe_roundtrip, &mut beside))
    });
    write_beside("value_get", &mut beside);
    group.finish();
    drop((list, dict, value));
    manager.shutdown().unwrap();
    drop(ours);
    child.join().unwrap();
}

criterion_group!(benches, manager);

fn main() {
    report_files::main(benches);
}
