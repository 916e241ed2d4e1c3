//! Queue and JoinableQueue on a real Redis.

use std::time::{Duration, Instant};

use mp_redis::{Error, JoinableQueue, Queue, QueueBuilder};

use crate::support::{self, DEADLINE, PATIENCE};

#[test]
fn put_get_in_order_and_no_key_left() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let q: Queue<String> = Queue::open(&url, &support::unique("order")).unwrap();
    assert!(q.is_empty().unwrap());
    for i in 0..10 {
        q.put(&format!("item {i}")).unwrap();
    }
    assert_eq!(q.qsize().unwrap(), 10);
    for i in 0..10 {
        assert_eq!(q.get().unwrap(), format!("item {i}"));
    }
    assert!(q.is_empty().unwrap());
    assert_eq!(q.try_get(), Err(Error::Empty));
    q.delete_keys().unwrap();
    support::assert_no_keys(&url);
}
