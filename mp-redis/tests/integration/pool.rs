//! Pool on a real Redis with local workers.

use std::time::Duration;

use mp_redis::{Error, Pool};

use crate::functions::*;
use crate::support::{self, DEADLINE};

#[test]
fn map_apply_starmap_imap_with_local_workers() {
    let _d = mp_testkit::deadline(DEADLINE);
    let Some(server) = support::server() else {
        return;
    };
    let url = server.url();
    let pool = Pool::builder(&url)
        .name(&support::unique("pool"))
        .processes(2)
        .build()
        .unwrap();
    assert_eq!(
        pool.map(square, 0..10u64).unwrap(),
        (0..10u64).map(|x| x * x).collect::<Vec<_>>()
    );
    assert_eq!(pool.apply(square, (7,)).unwrap(), 49);
    assert_eq!(pool.starmap(add, [(1u64, 2u64), (3, 4)]).unwrap(), [3, 7]);
    let first: Vec<u64> = pool
        .imap(square, 0u64..)
        .unwrap()
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [0, 1, 4, 9, 16]);
    pool.close();
    pool.join_timeout(Duration::from_secs(20)).unwrap();
    pool.delete_keys().unwrap();
    drop(pool);
    support::assert_no_keys(&url);
    let _ = Error::Closed;
}
