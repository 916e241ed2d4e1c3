use mp_pool::{Error, Pool};
use std::time::{Duration, Instant};

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn smoke() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let t = Instant::now();
    let pool = Pool::new(2).unwrap();
    eprintln!("start {:?}", t.elapsed());
    let t = Instant::now();
    let v = pool.map(square, 0..100_000u64).unwrap();
    eprintln!("map {:?}", t.elapsed());
    assert_eq!(v[7], 49);
    let t = Instant::now();
    let v = pool.map_chunked(square, 0..10_000u64, 1).unwrap();
    eprintln!("map1 {:?}", t.elapsed());
    assert_eq!(v[9999], 9999 * 9999);
    assert_eq!(pool.apply(square, (5,)).unwrap(), 25);
    let t = Instant::now();
    for _ in 0..100 {
        pool.apply(square, (5,)).unwrap();
    }
    eprintln!("apply {:?}", t.elapsed() / 100);
    let _ = Error::Timeout;
}
