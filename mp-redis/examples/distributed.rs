//! A map across hosts: `distributed worker URL` on each worker host (the
//! same build of this program), `distributed map URL N` anywhere.
//!
//! ```sh
//! cargo build --release -p mp-redis --example distributed
//! # host R: redis-server --bind 0.0.0.0 --requirepass s3cret
//! # hosts A and B: target/release/examples/distributed worker redis://:s3cret@R:6379/
//! # anywhere:      target/release/examples/distributed map redis://:s3cret@R:6379/ 1000
//! ```

use std::collections::BTreeMap;

/// The work: a square, and which host and process did it.
fn square_where(x: u64) -> (u64, String) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    (x * x, format!("{}:{}", host.trim(), std::process::id()))
}
mp_redis::register!(square_where);

fn main() -> Result<(), mp_redis::Error> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("worker"), Some(url)) => {
            println!("worker of build {}", mp_redis::build_fingerprint());
            mp_redis::serve(url)
        }
        (Some("map"), Some(url)) => {
            let n: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(100);
            let pool = mp_redis::Pool::connect(url)?;
            let results = pool.map_chunked(square_where, 0..n, 10)?;
            let mut by_worker = BTreeMap::new();
            for (_, worker) in &results {
                *by_worker.entry(worker.clone()).or_insert(0) += 1;
            }
            let sum: u64 = results.iter().map(|(square, _)| square).sum();
            println!("sum of squares below {n}: {sum}");
            for (worker, count) in by_worker {
                println!("  {count} items on {worker}");
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: distributed worker URL | distributed map URL [N]");
            std::process::exit(2);
        }
    }
}
