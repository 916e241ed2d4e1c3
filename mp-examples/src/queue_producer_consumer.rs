//! A producer process and a consumer process share a `Queue` (seed 003,
//! "Sharing data using a queue").
//!
//! ```python
//! def producer(queue):
//!     queue.put("Hello from Producer")
//!
//! def consumer(queue):
//!     message = queue.get()
//!     print(f"Received: {message}")
//!
//! queue = Queue()
//! p1 = Process(target=producer, args=(queue,))
//! p2 = Process(target=consumer, args=(queue,))
//! ```
//!
//! Both start at once: the consumer's `get` waits for the producer's `put`.
//! (The seed writes `args={queue,}`, a set; a tuple is meant.)

use mp_process::Process;
use mp_queue::Queue;

fn producer(queue: Queue<String>) {
    queue
        .put(&"Hello from Producer".to_string())
        .expect("put the message");
}

fn consumer(queue: Queue<String>) {
    let message = queue.get().expect("get the message");
    println!("Received: {message}");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let queue = Queue::new()?;
    let mut p1 = Process::new(producer, (queue.clone(),));
    let mut p2 = Process::new(consumer, (queue.clone(),));

    p1.start()?;
    p2.start()?;

    p1.join()?;
    p2.join()?;
    Ok(())
}
