//! W6: manager calls (list append, dict set, value get) beside the floor
//! they are made of, a raw `Pipe` round trip to a child process that echoes.
//!
//! Every manager call is one request/reply on a Unix socket to the server
//! process, so the target is <= 1.3x the pipe round trip (CPython: 25-60 us
//! per call).
//!
//! On a busy 2-core machine a round trip is either a same-core hand-off or
//! a cross-core wake-up (5-15 us vs 50-60 us), which makes unpinned runs
//! bimodal. For stable same-core numbers run the bench under
//! `taskset -c 1` (the server and the echo child inherit the affinity).

use std::hint::black_box;
use std::time::Duration;

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
    group.bench_function("pipe_roundtrip", |b| {
        b.iter(|| {
            n += 1;
            ours.send(&n).unwrap();
            black_box(ours.recv::<u64>().unwrap())
        })
    });
    drop(ours);
    child.join().unwrap();

    let manager = Manager::start().unwrap();
    let list = manager.list::<u64>().unwrap();
    let mut n = 0u64;
    group.bench_function("list_append", |b| {
        b.iter(|| {
            n += 1;
            list.append(&n).unwrap();
        })
    });

    let dict = manager.dict::<u64, u64>().unwrap();
    let mut n = 0u64;
    group.bench_function("dict_set", |b| {
        b.iter(|| {
            n += 1;
            black_box(dict.insert(&(n % 1024), &n).unwrap())
        })
    });

    let value = manager.value(&42u64).unwrap();
    group.bench_function("value_get", |b| b.iter(|| black_box(value.get().unwrap())));
    group.finish();
    drop((list, dict, value));
    manager.shutdown().unwrap();
}

criterion_group!(benches, manager);
criterion_main!(benches);
