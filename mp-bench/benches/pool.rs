//! W5: `Pool(2).map(x -> x*x)` over 100k items with CPython's default
//! chunking and over 10k items with chunksize 1, an `apply` round trip,
//! and a CPU-bound map, each beside its baseline in the same group: the
//! same work as a serial loop in this process (and, for `apply`, a raw
//! socketpair round trip to a child process, the floor of any
//! cross-process call, once waiting as mp waits, spinning up to 30 µs
//! before it sleeps, and once blocking at once). The speedup of the CPU-bound map is
//! `serial / mp` of the two cases of `pool/map/cpu_bound`. procspawn's pool
//! (the Rust crate people reach for) runs the chunksize-1 map and the
//! `apply` round trip in the same groups; the `apply` round trip also
//! awaited under tokio's current-thread runtime.

use std::hint::black_box;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

mod report_files;
mod spin_wait;

use criterion::{Criterion, Throughput, criterion_group};
use mp::pool::Pool;
use mp::process::Process;
use spin_wait::Wait;

fn square(x: u64) -> u64 {
    x * x
}

/// About a millisecond of arithmetic that the optimizer cannot skip.
fn spin(x: u64) -> u64 {
    let mut h = x ^ 0x9e37_79b9_7f4a_7c15;
    for i in 0..1_500_000u64 {
        h = (h ^ i).wrapping_mul(0x0100_0000_01b3).rotate_left(5);
    }
    h
}

/// Echoes 8-byte messages, waiting for each as `wait` says.
fn echo_raw(fd: mp::handle::Fd, wait: Wait) {
    let mut stream = UnixStream::from(fd.into_owned());
    let mut buf = [0u8; 8];
    while wait.read_exact(&mut stream, &mut buf).is_ok() {
        stream.write_all(&buf).unwrap();
    }
}

fn pool(c: &mut Criterion) {
    let pool = Pool::new(2).unwrap();
    let peer = procspawn::Pool::new(2).unwrap();
    // Workers up and every function reference verified once.
    pool.map(square, 0..1000u64).unwrap();

    let mut g = c.benchmark_group("pool/map/trivial_100k");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(100_000));
    g.bench_function("mp", |b| {
        b.iter(|| pool.map(square, 0..100_000u64).unwrap());
    });
    g.bench_function("serial", |b| {
        b.iter(|| {
            (0..100_000u64)
                .map(|x| square(black_box(x)))
                .collect::<Vec<_>>()
        });
    });
    g.finish();

    let mut g = c.benchmark_group("pool/map/chunk1_10k");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(10_000));
    g.bench_function("mp", |b| {
        b.iter(|| pool.map_chunked(square, 0..10_000u64, 1).unwrap());
    });
    g.bench_function("procspawn", |b| {
        // Every procspawn handle in flight holds its own channel (file
        // descriptors): 10,000 at once exceed a 20,000-descriptor limit, so
        // it runs in windows of 1,000 (mp's map bounds its window too).
        b.iter(|| {
            let mut out = Vec::with_capacity(10_000);
            for window in 0..10u64 {
                let handles: Vec<_> = (window * 1000..(window + 1) * 1000)
                    .map(|x| peer.spawn(x, square))
                    .collect();
                out.extend(handles.into_iter().map(|h| h.join().unwrap()));
            }
            out
        });
    });
    g.bench_function("serial", |b| {
        b.iter(|| {
            (0..10_000u64)
                .map(|x| square(black_box(x)))
                .collect::<Vec<_>>()
        });
    });
    g.finish();

    let mut g = c.benchmark_group("pool/apply/roundtrip");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("mp", |b| {
        b.iter(|| pool.apply(square, (black_box(7),)).unwrap());
    });
    // The same call awaited (`AsyncResult: IntoFuture`) on tokio's
    // current-thread runtime: what an async service pays per offloaded call.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("mp_awaited_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let result = pool.apply_async(square, (black_box(7),)).unwrap();
                result.await.unwrap()
            })
        });
    });
    g.bench_function("procspawn", |b| {
        b.iter(|| peer.spawn(black_box(7u64), square).join().unwrap());
    });
    for wait in [Wait::SpinThenBlock, Wait::Blocking] {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let theirs = mp::handle::Fd::from(std::os::fd::OwnedFd::from(theirs));
        let mut echo = Process::new(echo_raw, (theirs, wait));
        echo.start().unwrap();
        g.bench_function(format!("raw_socketpair{}", wait.suffix()), |b| {
            let mut buf = [0u8; 8];
            b.iter(|| {
                ours.write_all(&7u64.to_le_bytes()).unwrap();
                wait.read_exact(&mut ours, &mut buf).unwrap();
            });
        });
        drop(ours);
        let _ = echo.join_timeout(Duration::from_secs(5));
    }
    g.bench_function("serial", |b| b.iter(|| square(black_box(7))));
    g.finish();

    let mut g = c.benchmark_group("pool/map/cpu_bound");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(64));
    g.bench_function("mp", |b| {
        b.iter(|| pool.map(spin, 0..64u64).unwrap());
    });
    g.bench_function("serial", |b| {
        b.iter(|| (0..64u64).map(|x| spin(black_box(x))).collect::<Vec<_>>());
    });
    g.finish();
}

criterion_group!(benches, pool);

fn main() {
    // procspawn's children start by re-running this binary up to here.
    procspawn::init();
    report_files::main(benches);
}
