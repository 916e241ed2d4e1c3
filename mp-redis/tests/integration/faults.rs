//! Redis unreachable, restarted, persistent, and behind a password.

use std::time::{Duration, Instant};

use mp_redis::{Error, Pool, Queue, QueueBuilder, RedisServer};

use crate::functions::*;
use crate::support::{self, DEADLINE, PATIENCE};

#[test]
fn calls_fail_with_unavailable_while_redis_is_down_and_reconnect_after() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(mut server) = support::server() else {
        return;
    };
    let url = server.url();
    let q: Queue<u32> = QueueBuilder::new(&url, &support::unique("down"))
        .connect_timeout(Duration::from_millis(300))
        .io_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    q.put(&1).unwrap();
    // A blocking get in another thread sees the outage as an error.
    let getter = {
        let q = q.clone();
        std::thread::spawn(move || {
            assert_eq!(q.get().unwrap(), 1);
            let started = Instant::now();
            let outcome = q.get();
            (outcome, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    server.kill();
    let (outcome, took) = getter.join().unwrap();
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{outcome:?}");
    assert!(took < PATIENCE, "{took:?}");
    for call in 0..3 {
        let started = Instant::now();
        let put = q.put(&2);
        assert!(
            matches!(put, Err(Error::Unavailable(_))),
            "call {call}: {put:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(matches!(q.qsize(), Err(Error::Unavailable(_))));
    server.restart().unwrap();
    // The next calls reconnect (and recreate the consumer group).
    q.put(&3).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), 3);
}

#[test]
fn opening_an_unreachable_redis_fails_in_time() {
    let _d = mp_testkit::deadline(DEADLINE);
    let dir = std::env::temp_dir().join(format!("mp-redis-nothing-{}", std::process::id()));
    let url = format!("redis+unix://{}/none.sock", dir.display());
    let started = Instant::now();
    let q = QueueBuilder::new(&url, "q")
        .connect_timeout(Duration::from_millis(200))
        .build::<u32>();
    assert!(matches!(q, Err(Error::Unavailable(_))), "{q:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let bad = Queue::<u32>::open("http://example.invalid/", "q");
    assert!(matches!(bad, Err(Error::InvalidUrl(_))), "{bad:?}");
    let pool = Pool::builder(&url)
        .connect_timeout(Duration::from_millis(200))
        .build();
    assert!(matches!(pool, Err(Error::Unavailable(_))), "{pool:?}");
}

#[test]
fn an_acknowledged_put_survives_a_redis_restart_with_persistence() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(mut server) = support::start(RedisServer::builder().persistence(true)) else {
        return;
    };
    let name = support::unique("durable");
    let q: JoinableQueue<String> = JoinableQueue::open(&server.url(), &name).unwrap();
    for i in 0..3 {
        q.put(&format!("kept {i}")).unwrap();
    }
    // SIGKILL: no shutdown save; only the append-only file has them.
    server.restart().unwrap();
    for i in 0..3 {
        assert_eq!(q.get_timeout(PATIENCE).unwrap(), format!("kept {i}"));
        q.task_done().unwrap();
    }
    q.join_timeout(PATIENCE).unwrap();
}

use mp_redis::JoinableQueue;

#[test]
fn acl_users_pass_through_the_url_and_wrong_credentials_are_auth_errors() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::start(
        RedisServer::builder()
            .port(0)
            .arg("--user")
            .arg("default")
            .arg("off")
            .arg("--user")
            .arg("alice")
            .arg("on")
            .arg(">s3cret")
            .arg("~*")
            .arg("&*")
            .arg("+@all"),
    ) else {
        return;
    };
    let plain = server.url();
    let with_user = plain.replace("redis://", "redis://alice:s3cret@");
    let q: Queue<u32> = Queue::open(&with_user, &support::unique("acl")).unwrap();
    q.put(&5).unwrap();
    assert_eq!(q.get().unwrap(), 5);
    let wrong = plain.replace("redis://", "redis://alice:nope@");
    let denied = Queue::<u32>::open(&wrong, "acl");
    assert!(matches!(denied, Err(Error::Auth(_))), "{denied:?}");
    let anonymous = Queue::<u32>::open(&plain, "acl");
    assert!(
        matches!(anonymous, Err(Error::Auth(_)) | Err(Error::Redis(_))),
        "{anonymous:?}"
    );
    let pool = Pool::builder(&with_user)
        .name(&support::unique("acl-pool"))
        .processes(1)
        .build()
        .unwrap();
    assert_eq!(pool.apply(square, (6,)).unwrap(), 36);
}

#[test]
fn a_map_survives_a_redis_restart_or_fails_typed_never_hangs() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(mut server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = Pool::builder(&url)
        .name(&support::unique("restart"))
        .processes(2)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let job = pool
        .map_async_with(sleep_ms, vec![5u64; 200], Some(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    // Without persistence: Redis comes back empty; the caller sends again
    // the tasks that were lost.
    server.restart().unwrap();
    match job.get_timeout(Duration::from_secs(40)) {
        Ok(pids) => assert_eq!(pids.len(), 200),
        Err(Error::Timeout) => panic!("the map hung after a Redis restart"),
        Err(e) => eprintln!("the map failed with a typed error: {e}"),
    }
    // And the pool works afterwards.
    assert_eq!(pool.apply(square, (4,)).unwrap(), 16);
}

#[test]
fn a_get_with_a_timeout_keeps_it_while_redis_hangs() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = Pool::builder(&url)
        .name(&support::unique("frozen-redis"))
        .processes(1)
        .build()
        .unwrap();
    assert_eq!(pool.apply(square, (2,)).unwrap(), 4);
    let job = pool.apply_async(sleep_ms, (1000u64,)).unwrap();
    let pid = rustix::process::Pid::from_raw(server.pid().unwrap() as i32).unwrap();
    let (got, took) = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = Instant::now();
            let got = job.get_timeout(Duration::from_millis(400));
            (got, start.elapsed())
        });
        // Redis hangs while the get waits.
        std::thread::sleep(Duration::from_millis(100));
        rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
        let out = waiter.join().unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
        out
    });
    assert_eq!(got, Err(Error::Timeout));
    assert!(
        took < Duration::from_secs(2),
        "get_timeout(400 ms) took {took:?}"
    );
    assert!(job.wait_timeout(Duration::from_secs(30)));
}
