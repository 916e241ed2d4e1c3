//! mp-pool beside procspawn's process pool (the Rust crate people reach
//! for), in the same run: `map` with chunksize 1 over 2,000 items and an
//! `apply` round trip. The W5 workloads and their serial baselines are in
//! the facade's `benches/pool.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use mp_pool::Pool;

fn square(x: u64) -> u64 {
    x * x
}

const ITEMS: u64 = 2_000;

fn peers(c: &mut Criterion) {
    let pool = Pool::new(2).unwrap();
    let peer = procspawn::Pool::new(2).unwrap();
    pool.map(square, 0..1000u64).unwrap();

    let mut g = c.benchmark_group("pool/map/chunk1_2k");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(ITEMS));
    g.bench_function("mp", |b| {
        b.iter(|| pool.map_chunked(square, 0..ITEMS, 1).unwrap());
    });
    g.bench_function("procspawn", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..ITEMS).map(|x| peer.spawn(x, square)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<u64>>()
        });
    });
    g.finish();

    let mut g = c.benchmark_group("pool/apply/roundtrip_peers");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("mp", |b| {
        b.iter(|| pool.apply(square, (black_box(7),)).unwrap());
    });
    g.bench_function("procspawn", |b| {
        b.iter(|| peer.spawn(black_box(7u64), square).join().unwrap());
    });
    g.finish();
}

fn main() {
    // procspawn's children start by re-running this binary up to here.
    procspawn::init();
    let mut c = Criterion::default().configure_from_args();
    peers(&mut c);
    c.final_summary();
}
