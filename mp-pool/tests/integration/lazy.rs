//! `imap` and `imap_unordered`: order, endless sources, the window, timeouts.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::*;

#[test]
fn imap_yields_in_order_and_imap_unordered_yields_everything() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let ordered: Vec<u64> = pool
        .imap(square, 0..500u64)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ordered, (0..500u64).map(|x| x * x).collect::<Vec<_>>());
    let chunked: Vec<u64> = pool
        .imap_chunked(square, 0..500u64, 16)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(chunked, ordered);
    // A held-up item first: unordered results do not wait for it.
    let gate = Gate::new();
    let items = [
        (gate.path(), 400u64),
        (String::new(), 1),
        (String::new(), 2),
    ];
    let mut it = pool
        .imap_unordered(
            |(gate, value): (String, u64)| {
                if gate.is_empty() {
                    value
                } else {
                    after_gate(gate, value)
                }
            },
            items,
        )
        .unwrap();
    let first = it.next_timeout(secs(30));
    assert!(matches!(first, Some(Ok(1 | 2))), "{first:?}");
    gate.open();
    let mut unordered: Vec<u64> = it.map(Result::unwrap).collect();
    unordered.push(first.unwrap().unwrap());
    unordered.sort();
    assert_eq!(unordered, [1, 2, 400]);
    let mut all: Vec<u64> = pool
        .imap_unordered_chunked(square, 0..100u64, 7)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    all.sort();
    assert_eq!(all, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn imap_over_an_endless_iterator_takes_1000_results() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let first: Vec<u64> = pool
        .imap(square, 0u64..)
        .unwrap()
        .take(1000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
    let some: Vec<u64> = pool
        .imap_unordered_chunked(square, (0u64..).map(|x| x % 10), 10)
        .unwrap()
        .take(1000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(some.len(), 1000);
}

#[test]
fn imap_holds_only_its_window() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::builder().processes(2).imap_window(5).build().unwrap();
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let source = (0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut it = pool.imap_chunked(square, source, 3).unwrap();
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        0,
        "nothing before the first next()"
    );
    for i in 0..10u64 {
        assert_eq!(it.next(), Some(Ok(i * i)));
    }
    // 10 consumed: 4 chunks taken, at most 5 more in flight. (Only `next`
    // pulls items, on this thread: the count cannot grow behind our back.)
    let n = pulled.load(Ordering::SeqCst);
    assert!(n <= (4 + 5) * 3, "pulled {n}");
}

#[test]
fn imap_next_timeout() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let gate = Gate::new();
    let items = [(gate.path(), 500u64), (gate.path(), 1)];
    let mut it = pool
        .imap(
            |(gate, value): (String, u64)| after_gate(gate, value),
            items,
        )
        .unwrap();
    let t = Instant::now();
    assert_eq!(
        it.next_timeout(Duration::from_millis(100)),
        Some(Err(Error::Timeout))
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    gate.open();
    assert_eq!(it.next_timeout(secs(30)), Some(Ok(500)));
    assert_eq!(it.next_timeout(secs(30)), Some(Ok(1)));
    assert_eq!(it.next_timeout(secs(30)), None);
}

#[test]
fn an_imap_of_a_terminated_pool_ends() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    let mut it = pool.imap(sleep_ms, std::iter::repeat(10_000u64)).unwrap();
    assert_eq!(
        it.next_timeout(Duration::from_millis(100)),
        Some(Err(Error::Timeout))
    );
    pool.terminate();
    let rest: Vec<_> = it.by_ref().take(100).collect();
    assert!(rest.len() < 100, "the iterator ends");
    assert!(
        rest.iter().all(|r| *r == Err(Error::Terminated)),
        "{rest:?}"
    );
}
