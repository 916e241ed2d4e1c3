//! Test support: a private redis-server per test, unique names, key checks.

use std::time::Duration;

use mp_redis::{Pool, RedisServer};

/// The deadline of an ordinary test.
pub(crate) const DEADLINE: Duration = Duration::from_secs(90);

/// A generous bound for waits that should end quickly.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// Whether a missing redis-server may skip a test (else it fails loudly).
pub(crate) fn may_skip() -> bool {
    std::env::var("MP_ALLOW_SKIP_REDIS").is_ok_and(|v| v == "1")
}

/// A fresh redis-server on a Unix socket, or `None` (with a message) if
/// there is none and skipping is allowed.
pub(crate) fn server() -> Option<RedisServer> {
    start(RedisServer::builder())
}

pub(crate) fn start(builder: mp_redis::RedisServerBuilder) -> Option<RedisServer> {
    redis_available().then(|| builder.start().expect("redis-server starts"))
}

/// Whether redis-server is installed; fails the test if not, unless
/// skipping is allowed.
pub(crate) fn redis_available() -> bool {
    if RedisServer::available() {
        return true;
    }
    assert!(
        may_skip(),
        "redis-server is not installed (apt-get install redis-server), \
         or set MP_ALLOW_SKIP_REDIS=1 to skip the Redis tests"
    );
    eprintln!("SKIPPED: redis-server is not installed");
    false
}

/// A name no other test uses.
pub(crate) fn unique(what: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "test:{what}:{}:{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A plain connection for looking at what is in Redis.
pub(crate) fn connection(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).unwrap();
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn
}

/// The keys in Redis.
pub(crate) fn keys(url: &str) -> Vec<String> {
    let mut conn = connection(url);
    redis::cmd("KEYS").arg("*").query(&mut conn).unwrap()
}

/// Asserts that Redis holds no key (nothing was left behind).
pub(crate) fn assert_no_keys(url: &str) {
    let left = keys(url);
    assert!(left.is_empty(), "keys left in Redis: {left:?}");
}

/// A pool with two local workers, named uniquely after `what`.
pub(crate) fn local_pool(url: &str, what: &str) -> Pool {
    Pool::builder(url)
        .name(&unique(what))
        .processes(2)
        .build()
        .unwrap()
}

/// Closes `pool`, joins its workers and deletes its keys, then asserts
/// that Redis holds nothing more.
pub(crate) fn close_and_clean(pool: Pool, url: &str) {
    pool.close();
    pool.join_timeout(PATIENCE).unwrap();
    pool.delete_keys().unwrap();
    drop(pool);
    assert_no_keys(url);
}
