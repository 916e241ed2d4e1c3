//! W8: mp-redis's distributed `map` and `apply` on one local redis-server
//! with 2 local workers, beside mp's local Pool (the floor) and Celery
//! (2 prefork workers on the same redis-server, measured by
//! benches/celery/run.sh in the same run), then the ratios and the time a
//! task takes to complete elsewhere after its worker is SIGKILLed.
//!
//! `cargo bench -p mp-redis --bench redis`; `MP_BENCH_SKIP_CELERY=1`
//! leaves Celery out.
//!
//! Besides the printed table, the numbers go to `w8/summary.json` under
//! criterion's directory, stamped with this run (`mp_testkit::BenchFiles`),
//! where mp-bench's `bench_report` reads them for BENCHMARKS.md's W8 rows:
//! `{"results": [{"full_id", "median_ns"} | {"full_id", "note"}]}`, rates
//! as nanoseconds per task or item.

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use mp_redis::{Pool, RedisServer, Worker};
use mp_testkit::BenchFiles;
use serde_json::json;

fn square(x: u64) -> u64 {
    x * x
}
mp_redis::register!(square, sleep_then_square);

fn sleep_then_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(300));
    x * x
}

const TASKS: u64 = 2_000;
const ITEMS: u64 = 100_000;
const CHUNK: usize = 1_000;

/// A worker the pool does not know about (as on another host).
fn remote_worker(url: String, name: String) {
    Worker::new(&url).name(&name).serve().unwrap();
}

fn per_second(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Best of `runs` timings of `f`.
fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn median_round_trip(n: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples[n / 2]
}

struct Numbers {
    tasks_per_s: f64,
    items_per_s: f64,
    round_trip: Duration,
}

/// The three W8 numbers of a pool: `map` with chunksize 1, `map` in
/// chunks, and the `apply` round trip.
fn measure(mut map_chunked: impl FnMut(u64, usize), apply: impl FnMut()) -> Numbers {
    Numbers {
        tasks_per_s: per_second(TASKS, best(3, || map_chunked(TASKS, 1))),
        items_per_s: per_second(ITEMS, best(3, || map_chunked(ITEMS, CHUNK))),
        round_trip: median_round_trip(1000, apply),
    }
}

/// Celery's numbers and version, or why it was skipped.
fn celery(url: &str) -> Result<(Numbers, String), String> {
    if std::env::var("MP_BENCH_SKIP_CELERY").is_ok_and(|v| v == "1") {
        return Err("MP_BENCH_SKIP_CELERY=1".into());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/celery/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "run.sh exited {} (exit 3: celery could not be installed): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or("celery_bench.py printed no JSON line")?;
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("celery_bench.py's line: {e}"))?;
    println!("Celery {} measured: {line}", v["celery"]);
    let number = |key: &str| {
        v[key]
            .as_f64()
            .ok_or_else(|| format!("celery_bench.py's line has no {key}"))
    };
    Ok((
        Numbers {
            tasks_per_s: number("tasks_per_s")?,
            items_per_s: number("chunked_items_per_s")?,
            round_trip: Duration::from_secs_f64(number("round_trip_s")?),
        },
        v["celery"].as_str().unwrap_or("?").to_owned(),
    ))
}

/// From a worker's SIGKILL to its task's completion elsewhere: for a
/// worker the pool did not start, and for a local worker of the pool.
fn recovery(url: &str) -> (Duration, Duration) {
    // A worker the pool did not start: only the visibility timeout (at its
    // default) brings the task back.
    let name = "bench-recovery";
    let mut first =
        mp_process::Process::new(remote_worker, (url.to_string(), name.to_string())).daemon(true);
    first.start().unwrap();
    let pool = Pool::builder(url).name(name).build().unwrap();
    pool.apply(square, (1,)).unwrap();
    let job = pool.apply_async(sleep_then_square, (3,)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut second =
        mp_process::Process::new(remote_worker, (url.to_string(), name.to_string())).daemon(true);
    second.start().unwrap();
    first.kill().unwrap();
    let killed = Instant::now();
    job.get().unwrap();
    let remote = killed.elapsed();
    second.kill().unwrap();
    drop(pool);

    // A local worker: the pool sees it die and hands its task on at once.
    let pool = Pool::builder(url)
        .name("bench-recovery-local")
        .processes(2)
        .build()
        .unwrap();
    pool.map(square, 0..10u64).unwrap();
    let job = pool
        .map_async_with(sleep_then_square, 0..2u64, Some(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let victim = pool.pids()[0];
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(victim as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let killed = Instant::now();
    job.get().unwrap();
    let local = killed.elapsed();
    println!(
        "recovery after SIGKILL (task of 300 ms): worker elsewhere, visibility timeout {:?} (default): \
         {remote:?}; local worker: {local:?}",
        mp_redis::DEFAULT_VISIBILITY_TIMEOUT
    );
    (remote, local)
}

/// The W8 numbers as bench_report reads them (see the crate docs).
fn summary(
    redis: &Numbers,
    floor: &Numbers,
    celery: &Result<(Numbers, String), String>,
    (remote, local): (Duration, Duration),
) -> serde_json::Value {
    let mut results = Vec::new();
    let mut numbers = |who: &str, n: &Numbers| {
        results.extend([
            json!({"full_id": format!("w8/map_chunksize_1/{who}"), "median_ns": 1e9 / n.tasks_per_s}),
            json!({"full_id": format!("w8/map_chunked_{CHUNK}/{who}"), "median_ns": 1e9 / n.items_per_s}),
            json!({"full_id": format!("w8/apply_round_trip/{who}"), "median_ns": n.round_trip.as_nanos() as f64}),
        ]);
    };
    numbers("mp_redis", redis);
    numbers("mp_pool_local", floor);
    let celery_note = match celery {
        Ok((n, version)) => {
            numbers("celery", n);
            format!("Celery {version}, 2 prefork workers on the same redis-server")
        }
        Err(why) => format!("Celery skipped: {why}"),
    };
    results.extend([
        json!({"full_id": "w8/celery", "note": celery_note}),
        json!({"full_id": "w8/recovery_after_sigkill/worker_elsewhere", "median_ns": remote.as_nanos() as f64}),
        json!({"full_id": "w8/recovery_after_sigkill/local_worker", "median_ns": local.as_nanos() as f64}),
        json!({"full_id": "w8/recovery_after_sigkill", "note": format!(
            "a task of 300 ms whose worker is SIGKILLed: one a worker the pool did not start \
             held is taken again after the visibility timeout ({:?}, the default); a local \
             worker's at once (the pool sees it die)",
            mp_redis::DEFAULT_VISIBILITY_TIMEOUT
        )}),
    ]);
    json!({ "results": results })
}

fn main() {
    let files = BenchFiles::from_env();
    files.stamped(env!("CARGO_CRATE_NAME"), || measure_all(&files));
}

fn measure_all(files: &BenchFiles) {
    let server = RedisServer::builder()
        .port(0)
        .start()
        .expect("redis-server (apt-get install redis-server)");
    let url = server.url();
    let pool = Pool::builder(&url)
        .name("bench")
        .processes(2)
        .build()
        .unwrap();
    let local = mp_pool::Pool::new(2).unwrap();
    pool.map(square, 0..100u64).unwrap();

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10)
        .configure_from_args();
    {
        let mut g = c.benchmark_group("w8_map_chunksize_1");
        g.throughput(Throughput::Elements(TASKS));
        g.bench_function("mp_redis", |b| {
            b.iter(|| pool.map_chunked(square, 0..TASKS, 1).unwrap())
        });
        g.bench_function("mp_pool_local", |b| {
            b.iter(|| local.map_chunked(square, 0..TASKS, 1).unwrap())
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("w8_map_chunked_1000");
        g.throughput(Throughput::Elements(ITEMS));
        g.bench_function("mp_redis", |b| {
            b.iter(|| pool.map_chunked(square, 0..ITEMS, CHUNK).unwrap())
        });
        g.bench_function("mp_pool_local", |b| {
            b.iter(|| local.map_chunked(square, 0..ITEMS, CHUNK).unwrap())
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("w8_apply_round_trip");
        g.bench_function("mp_redis", |b| b.iter(|| pool.apply(square, (7,)).unwrap()));
        g.bench_function("mp_pool_local", |b| {
            b.iter(|| local.apply(square, (7,)).unwrap())
        });
        g.finish();
    }

    // The summary: the same three numbers for each, in this run.
    let redis = measure(
        |n, chunk| drop(pool.map_chunked(square, 0..n, chunk).unwrap()),
        || {
            pool.apply(square, (7,)).unwrap();
        },
    );
    let floor = measure(
        |n, chunk| drop(local.map_chunked(square, 0..n, chunk).unwrap()),
        || {
            local.apply(square, (7,)).unwrap();
        },
    );
    drop(pool);
    drop(local);
    let celery = celery(&url);
    println!("\nW8 (2 workers, one redis-server on loopback):");
    println!("| | chunksize 1 (tasks/s) | chunks of {CHUNK} (items/s) | apply round trip |");
    println!("|---|---|---|---|");
    for (who, n) in [
        ("mp-redis", Some(&redis)),
        ("mp local Pool", Some(&floor)),
        ("Celery", celery.as_ref().ok().map(|(n, _)| n)),
    ] {
        if let Some(n) = n {
            println!(
                "| {who} | {:.0} | {:.0} | {:?} |",
                n.tasks_per_s, n.items_per_s, n.round_trip
            );
        }
    }
    if let Err(why) = &celery {
        println!("Celery: skipped ({why})");
    }
    if let Ok((c, _)) = &celery {
        println!(
            "ratios mp-redis / Celery: chunksize 1 {:.1}x (target >= 10x), chunked {:.1}x (target >= 100x), \
             round trip {:.3} of Celery's (target <= 0.1)",
            redis.tasks_per_s / c.tasks_per_s,
            redis.items_per_s / c.items_per_s,
            redis.round_trip.as_secs_f64() / c.round_trip.as_secs_f64()
        );
    }
    let recovered = recovery(&url);
    let summary = summary(&redis, &floor, &celery, recovered);
    files.write("w8/summary.json", &format!("{summary:#}"));
    c.final_summary();
}
