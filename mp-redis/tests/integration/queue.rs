//! Queue and JoinableQueue on a real Redis: order, timeouts, back-pressure,
//! tracked receives, redelivery, dead letters, task_done/join across
//! processes.

use std::time::{Duration, Instant};

use mp_process::Process;
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

#[test]
fn timeouts_and_try_forms_give_empty_and_full() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let q: Queue<u32> = Queue::with_maxsize(&server.url(), &support::unique("full"), 2).unwrap();
    let started = Instant::now();
    assert_eq!(q.get_timeout(Duration::from_millis(200)), Err(Error::Empty));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < PATIENCE,
        "{waited:?}"
    );
    q.try_put(&1).unwrap();
    q.put_timeout(&2, Duration::from_millis(100)).unwrap();
    assert!(q.is_full().unwrap());
    assert_eq!(q.try_put(&3), Err(Error::Full));
    let started = Instant::now();
    assert_eq!(
        q.put_timeout(&3, Duration::from_millis(200)),
        Err(Error::Full)
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(q.try_get().unwrap(), 1);
    q.try_put(&3).unwrap();
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get().unwrap(), 3);
}

fn consume_slowly(q: Queue<u32>, n: u32) {
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(20));
        q.get_timeout(PATIENCE).unwrap();
    }
}

#[test]
fn a_bounded_put_waits_for_a_consumer_in_another_process() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let q: Queue<u32> = Queue::with_maxsize(&server.url(), &support::unique("bp"), 3).unwrap();
    let mut consumer = Process::new(consume_slowly, (q.clone(), 20)).daemon(true);
    consumer.start().unwrap();
    for i in 0..20 {
        q.put_timeout(&i, PATIENCE).unwrap();
        assert!(q.qsize().unwrap() <= 3, "maxsize exceeded");
    }
    assert_eq!(consumer.join().unwrap(), 0);
    assert!(q.is_empty().unwrap());
}

#[test]
fn a_wrongly_typed_item_is_a_decode_error_and_the_queue_goes_on() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let name = support::unique("decode");
    let strings: Queue<String> = Queue::open(&server.url(), &name).unwrap();
    let flags: Queue<bool> = Queue::open(&server.url(), &name).unwrap();
    // Its first byte (the length, 2) is no bool.
    strings.put(&"ab".into()).unwrap();
    flags.put(&true).unwrap();
    assert!(matches!(flags.get(), Err(Error::Decode(_))));
    assert!(flags.get().unwrap());
}

#[test]
fn close_wakes_a_blocked_get() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let q: Queue<u32> = Queue::open(&server.url(), &support::unique("close")).unwrap();
    let other = q.clone();
    let getter = std::thread::spawn(move || other.get());
    std::thread::sleep(Duration::from_millis(50));
    q.close();
    assert_eq!(getter.join().unwrap(), Err(Error::Closed));
    assert_eq!(q.put(&1), Err(Error::Closed));
}

#[test]
fn a_tracked_item_abandoned_is_delivered_again_and_done_settles_it() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let name = support::unique("tracked");
    let builder =
        QueueBuilder::new(&server.url(), &name).visibility_timeout(Duration::from_millis(200));
    let a: Queue<String> = builder.clone().build().unwrap();
    let b: Queue<String> = builder.build().unwrap();
    a.put(&"job".into()).unwrap();
    let first = a.get_tracked().unwrap();
    assert_eq!(*first, "job");
    assert_eq!(first.deliveries(), 1);
    assert_eq!(a.qsize().unwrap(), 0, "a tracked item is not waiting");
    // Abandoned: another consumer gets it after the visibility timeout.
    drop(first);
    let again = b.get_tracked_timeout(PATIENCE).unwrap();
    assert_eq!(*again, "job");
    assert_eq!(again.deliveries(), 2);
    assert!(again.done().unwrap());
    assert_eq!(
        a.try_get_tracked().map(|d| d.value().clone()),
        Err(Error::Empty)
    );
    a.delete_keys().unwrap();
    support::assert_no_keys(&server.url());
}

#[test]
fn a_live_delivery_keeps_its_claim_past_the_visibility_timeout() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let name = support::unique("heartbeat");
    let builder =
        QueueBuilder::new(&server.url(), &name).visibility_timeout(Duration::from_millis(150));
    let a: Queue<u32> = builder.clone().build().unwrap();
    let b: Queue<u32> = builder.build().unwrap();
    a.put(&1).unwrap();
    let held = a.get_tracked().unwrap();
    // Six visibility timeouts: the heartbeat renews the claim meanwhile.
    assert_eq!(
        b.get_tracked_timeout(Duration::from_millis(900))
            .map(|d| *d),
        Err(Error::Empty)
    );
    assert!(held.done().unwrap());
}

fn take_and_die(q: Queue<String>, ready: Queue<u32>) {
    let held = q.get_tracked_timeout(PATIENCE).unwrap();
    assert_eq!(*held, "precious");
    ready.put(&1).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn an_item_held_by_a_sigkilled_consumer_goes_to_another() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let builder = QueueBuilder::new(&url, &support::unique("killed"))
        .visibility_timeout(Duration::from_millis(300));
    let q: Queue<String> = builder.clone().build().unwrap();
    let ready: Queue<u32> = Queue::open(&url, &support::unique("ready")).unwrap();
    q.put(&"precious".into()).unwrap();
    let mut victim = Process::new(take_and_die, (q.clone(), ready.clone())).daemon(true);
    victim.start().unwrap();
    ready.get_timeout(PATIENCE).unwrap();
    // Held and renewed by the child: nobody else gets it.
    assert!(q.try_get_tracked().is_err());
    victim.kill().unwrap();
    victim.join().unwrap();
    let started = Instant::now();
    let rescued = q.get_tracked_timeout(PATIENCE).unwrap();
    assert_eq!(*rescued, "precious");
    assert_eq!(rescued.deliveries(), 2);
    assert!(started.elapsed() < PATIENCE);
    assert!(rescued.done().unwrap());
}

#[test]
fn an_item_never_acknowledged_goes_to_the_dead_letters() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let q: Queue<String> = QueueBuilder::new(&server.url(), &support::unique("dead"))
        .visibility_timeout(Duration::from_millis(50))
        .max_deliveries(3)
        .build()
        .unwrap();
    q.put(&"poison".into()).unwrap();
    q.put(&"fine".into()).unwrap();
    let mut seen = Vec::new();
    // Abandon "poison" every time; settle "fine".
    loop {
        match q.get_tracked_timeout(Duration::from_millis(500)) {
            Ok(d) if *d == "poison" => seen.push(d.deliveries()),
            Ok(d) => assert!(d.done().unwrap()),
            Err(Error::Empty) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen, [1, 2, 3], "delivered max_deliveries times, no more");
    let dead = q.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value, Ok("poison".to_string()));
    assert_eq!(dead[0].deliveries, 3);
    assert!(q.is_empty().unwrap());
    q.clear_dead_letters().unwrap();
    assert!(q.dead_letters().unwrap().is_empty());
}

fn worker(q: JoinableQueue<u64>, done: Queue<u64>) {
    while let Ok(n) = q.get_timeout(Duration::from_millis(500)) {
        done.put(&(n * 10)).unwrap();
        q.task_done().unwrap();
    }
}

#[test]
fn task_done_and_join_across_processes() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let q: JoinableQueue<u64> = JoinableQueue::open(&url, &support::unique("join")).unwrap();
    let done: Queue<u64> = Queue::open(&url, &support::unique("done")).unwrap();
    for n in 0..30 {
        q.put(&n).unwrap();
    }
    assert_eq!(q.unfinished_tasks().unwrap(), 30);
    assert_eq!(
        q.join_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    );
    let mut workers: Vec<Process> = (0..2)
        .map(|_| Process::new(worker, (q.clone(), done.clone())).daemon(true))
        .collect();
    for w in &mut workers {
        w.start().unwrap();
    }
    q.join_timeout(PATIENCE).unwrap();
    assert_eq!(q.unfinished_tasks().unwrap(), 0);
    let mut got: Vec<u64> = (0..30)
        .map(|_| done.get_timeout(PATIENCE).unwrap())
        .collect();
    got.sort();
    assert_eq!(got, (0..30).map(|n| n * 10).collect::<Vec<_>>());
    for w in &workers {
        assert_eq!(w.join().unwrap(), 0);
    }
    assert_eq!(q.task_done(), Err(Error::TooManyTaskDone));
    // A tracked delivery's done() is its task_done.
    q.put(&99).unwrap();
    let d = q.get_tracked().unwrap();
    assert_eq!(q.unfinished_tasks().unwrap(), 1);
    assert!(d.done().unwrap());
    q.join_timeout(PATIENCE).unwrap();
}
