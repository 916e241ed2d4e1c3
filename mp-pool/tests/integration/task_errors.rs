//! A panic or a (de)serialization failure is that task's error; the pool goes on.

use super::*;

#[test]
fn a_panic_is_that_tasks_error_and_the_pool_goes_on() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    assert_eq!(
        pool.apply(panic_on, (3,)),
        Err(Error::Panicked("task 3 failed".to_owned()))
    );
    let pids = pool.pids();
    // 20 in a row, then normal work on the same workers.
    for i in 0..20u64 {
        assert_eq!(
            pool.apply(always_panic, (i,)),
            Err(Error::Panicked(format!("boom {i}")))
        );
    }
    assert_eq!(pool.map(square, 0..10u64).unwrap()[3], 9);
    assert_eq!(pool.pids(), pids, "no worker was lost");
    let mut got: Vec<_> = pool.imap(panic_on, 0..14u64).unwrap().collect();
    assert_eq!(
        got.remove(3),
        Err(Error::Panicked("task 3 failed".to_owned()))
    );
    assert_eq!(
        got.remove(9),
        Err(Error::Panicked("task 10 failed".to_owned()))
    );
    assert!(got.iter().all(Result::is_ok));
}

#[test]
fn arguments_that_do_not_encode_fail_only_their_task() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let pids = pool.pids();
    for i in 0..20u32 {
        let r = pool.apply(even_only, (EvenOnly(2 * i + 1),));
        assert!(
            matches!(&r, Err(Error::Encode(m)) if m.contains("EvenOnly")),
            "{r:?}"
        );
    }
    let items: Vec<EvenOnly> = (0..10).map(EvenOnly).collect();
    let got: Vec<_> = pool.imap_chunked(even_only, &items, 4).unwrap().collect();
    for (i, r) in got.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(*r, Ok(i as u32));
        } else {
            assert!(matches!(r, Err(Error::Encode(_))), "{r:?}");
        }
    }
    assert_eq!(pool.pids(), pids, "no worker was lost");
}

#[test]
fn arguments_that_do_not_decode_in_the_worker_fail_only_their_task() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let pids = pool.pids();
    for _ in 0..20 {
        let r = pool.apply(not13, (Not13(13),));
        assert!(
            matches!(&r, Err(Error::Decode(m)) if m.contains("Not13")),
            "{r:?}"
        );
    }
    let items: Vec<Not13> = (10..16).map(Not13).collect();
    let got: Vec<_> = pool.imap_chunked(not13, &items, 6).unwrap().collect();
    assert_eq!(got[0], Ok(10));
    assert!(matches!(got[3], Err(Error::Decode(_))));
    assert_eq!(got[5], Ok(15));
    assert_eq!(pool.pids(), pids, "no worker was lost");
}

#[test]
fn results_that_do_not_encode_or_decode_fail_only_their_task() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let pids = pool.pids();
    for i in 0..20u32 {
        let r = pool.apply(make_even_only, (2 * i + 1,));
        assert!(
            matches!(&r, Err(Error::Encode(m)) if m.contains("EvenOnly")),
            "{r:?}"
        );
        let r = pool.apply(make_not13, (13,));
        assert!(
            matches!(&r, Err(Error::Decode(m)) if m.contains("Not13")),
            "{r:?}"
        );
    }
    let got: Vec<_> = pool
        .imap_chunked(make_even_only, 0..6u32, 6)
        .unwrap()
        .collect();
    assert_eq!(got[0], Ok(EvenOnly(0)));
    assert!(matches!(got[1], Err(Error::Encode(_))));
    assert_eq!(got[4], Ok(EvenOnly(4)));
    assert_eq!(pool.pids(), pids, "no worker was lost");
}

#[test]
fn a_result_whose_deserialize_panics_fails_only_its_task() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let got: Vec<_> = pool
        .imap_chunked(make_panics7, 5..10u32, 5)
        .unwrap()
        .collect();
    assert_eq!(got[0], Ok(Panics7(5)));
    assert!(
        matches!(&got[2], Err(Error::Decode(m)) if m.contains("cannot take 7")),
        "{got:?}"
    );
    assert_eq!(got[4], Ok(Panics7(9)));
    assert_eq!(pool.apply(square, (3,)), Ok(9));
}

#[test]
fn maps_error_is_the_lowest_failing_index() {
    let _d = mp_testkit::deadline(secs(120));
    let pool = Pool::new(2).unwrap();
    for chunksize in [1, 10, 300] {
        // Item 900 fails first, item 100 last: the error is item 100's.
        let r = pool.map_chunked(fail_slowly_for_low_items, 0..1000u64, chunksize);
        assert_eq!(
            r,
            Err(Error::Panicked("item 100".to_owned())),
            "chunksize {chunksize}"
        );
    }
}
