//! Puts and gets items in one process: a fixed workload for counting the
//! instructions of the queue's hot path (`valgrind --tool=callgrind`), and
//! for timing each side alone (`put_get_loop <n> sides`).

use std::time::Instant;

use mp_queue::{Queue, QueueBuilder};

fn main() -> Result<(), mp_queue::Error> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    if std::env::args().nth(2).as_deref() == Some("sides") {
        // Batches that fit a warm 16 MiB ring: no first-touch page faults.
        let q: Queue<u64> = QueueBuilder::new().ring_size(16 << 20).build()?;
        let batch = 200_000u64;
        let (mut put, mut get) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for round in 0..n / batch {
            let start = Instant::now();
            for i in 0..batch {
                q.put(&i)?;
            }
            let mid = Instant::now();
            for _ in 0..batch {
                q.get()?;
            }
            if round > 2 {
                put += mid - start;
                get += mid.elapsed();
            }
        }
        let counted = (n / batch - 3) * batch;
        println!(
            "put {:?}/item, get {:?}/item",
            put / counted as u32,
            get / counted as u32
        );
        return Ok(());
    }
    let q: Queue<u64> = Queue::new()?;
    let mut sum = 0u64;
    for i in 0..n {
        q.put(&i)?;
        sum = sum.wrapping_add(q.get()?);
    }
    println!("{sum}");
    Ok(())
}
