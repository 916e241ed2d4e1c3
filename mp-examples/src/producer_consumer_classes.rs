//! Producer and consumer written as `Process` subclasses, watching the
//! queue's size (seed 004, "# Queue").
//!
//! ```python
//! class producer(multiprocessing.Process):
//!     def run(self):
//!         for i in range(10):
//!             item = random.randint(0, 256)
//!             self.queue.put(item)
//!             print("Process Producer : item %d appended to queue %s" % (item, self.name))
//!             time.sleep(1)
//!             print("The size of queue is %s" % self.queue.qsize())
//!
//! class consumer(multiprocessing.Process):
//!     def run(self):
//!         while True:
//!             if (self.queue.empty()):
//!                 print("the queue is empty")
//!             else:
//!                 time.sleep(2)
//!                 item = self.queue.get()
//!                 print('Process Consumer : item %d popped from by %s \n' % (item, self.name))
//!                 time.sleep(1)
//! ```
//!
//! A subclass with `run` is a serde type implementing [`Run`], started with
//! `Process::from_run`; its fields (the queue) travel to the child.
//!
//! The original consumer never ends (and prints "the queue is empty" in a
//! busy loop while it waits). Here the producer puts `None` after its ten
//! items, the consumer stops when it takes it, and it says the queue is
//! empty once, then waits in `get`. Seconds are shortened to 50 ms.

use std::hash::{BuildHasher, Hasher};
use std::thread::sleep;
use std::time::Duration;

use mp_process::{Process, Run, current_process};
use mp_queue::Queue;
use serde::{Deserialize, Serialize};

/// The tutorial's second.
const SECOND: Duration = Duration::from_millis(50);

/// `random.randint(0, 256)`, from the randomly keyed hasher std already has.
fn randint_0_256() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() % 257) as u32
}

#[derive(Serialize, Deserialize)]
struct Producer {
    queue: Queue<Option<u32>>,
}

impl Run for Producer {
    fn run(self) {
        let name = current_process().name().to_string();
        for _ in 0..10 {
            let item = randint_0_256();
            self.queue.put(&Some(item)).expect("put an item");
            println!("Process Producer : item {item} appended to queue {name}");
            sleep(SECOND);
            println!("The size of queue is {}", self.queue.qsize());
        }
        // The original never tells the consumer it is done.
        self.queue.put(&None).expect("put the end marker");
    }
}

#[derive(Serialize, Deserialize)]
struct Consumer {
    queue: Queue<Option<u32>>,
}

impl Run for Consumer {
    fn run(self) {
        let name = current_process().name().to_string();
        loop {
            if self.queue.is_empty() {
                println!("the queue is empty");
            }
            sleep(2 * SECOND);
            let Some(item) = self.queue.get().expect("get an item") else {
                break;
            };
            println!("Process Consumer : item {item} popped from by {name} \n");
            sleep(SECOND);
        }
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    let queue = Queue::new()?;
    // Python names an instance of `class producer(Process)` "producer-1".
    let mut process_producer = Process::from_run(Producer {
        queue: queue.clone(),
    })
    .name("producer-1");
    let mut process_consumer = Process::from_run(Consumer {
        queue: queue.clone(),
    })
    .name("consumer-2");

    process_producer.start()?;
    process_consumer.start()?;
    process_producer.join()?;
    process_consumer.join()?;
    Ok(())
}
