//! One process puts squares on a `Queue`, another prints them until the
//! queue is empty (seed 000, "4. Queue Example", and seed 002, "Solution 3:
//! multiprocessing.Queue" — the same program).
//!
//! ```python
//! def square_list(mylist, q):
//!     for num in mylist:
//!         q.put(num * num)
//!
//! def print_queue(q):
//!     print("Queue elements:")
//!     while not q.empty():
//!         print(q.get())
//!     print("Queue is now empty!")
//! ```
//!
//! `q.empty()` is `q.is_empty()`. mp's `put` writes the item into shared
//! memory before it returns (there is no feeder thread), so once `p1` is
//! joined every square is in the queue and `p2` sees all four.

use mp_process::Process;
use mp_queue::Queue;

fn square_list(mylist: Vec<i32>, q: Queue<i32>) {
    for num in mylist {
        q.put(&(num * num)).expect("put a square");
    }
}

fn print_queue(q: Queue<i32>) {
    println!("Queue elements:");
    while !q.is_empty() {
        println!("{}", q.get().expect("get a square"));
    }
    println!("Queue is now empty!");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let mylist = vec![1, 2, 3, 4];
    let q = Queue::new()?;

    let mut p1 = Process::new(square_list, (mylist, q.clone()));
    let mut p2 = Process::new(print_queue, (q.clone(),));

    p1.start()?;
    p1.join()?;

    p2.start()?;
    p2.join()?;
    Ok(())
}
