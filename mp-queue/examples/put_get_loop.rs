//! Puts and gets items in one process: a fixed workload for counting the
//! instructions of the queue's hot path (`valgrind --tool=callgrind`).

use mp_queue::Queue;

fn main() -> Result<(), mp_queue::Error> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let q: Queue<u64> = Queue::new()?;
    let mut sum = 0u64;
    for i in 0..n {
        q.put(&i)?;
        sum = sum.wrapping_add(q.get()?);
    }
    println!("{sum}");
    Ok(())
}
