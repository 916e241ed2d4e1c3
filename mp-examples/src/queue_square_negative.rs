//! Two producers fill one `Queue` at the same time; the parent drains it
//! (seed 001, "Queues").
//!
//! ```python
//! def square(numbers, queue):
//!     for i in numbers:
//!         queue.put(i*i)
//!
//! def make_negative(numbers, queue):
//!     for i in numbers:
//!         queue.put(-1*i)
//!
//! q = Queue()
//! p1 = Process(target=square, args=(numbers, q))
//! p2 = Process(target=make_negative, args=(numbers, q))
//! ...
//! while not q.empty():
//!     print(q.get())
//! ```
//!
//! `numbers` is `range(1, 6)` (the cell that defined it is not in the seed).
//! Each producer's items arrive in its order; how the two interleave
//! depends on scheduling, as in Python.

use mp_process::Process;
use mp_queue::Queue;

fn square(numbers: Vec<i64>, queue: Queue<i64>) {
    for i in numbers {
        queue.put(&(i * i)).expect("put a square");
    }
}

fn make_negative(numbers: Vec<i64>, queue: Queue<i64>) {
    for i in numbers {
        queue.put(&(-i)).expect("put a negative");
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let numbers: Vec<i64> = (1..6).collect();
    let q = Queue::new()?;
    let mut p1 = Process::new(square, (numbers.clone(), q.clone()));
    let mut p2 = Process::new(make_negative, (numbers, q.clone()));

    p1.start()?;
    p2.start()?;

    p1.join()?;
    p2.join()?;

    while !q.is_empty() {
        println!("{}", q.get()?);
    }
    Ok(())
}
