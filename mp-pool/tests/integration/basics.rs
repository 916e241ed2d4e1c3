//! map, starmap, apply, settings, start methods, many workers, large chunks.

use super::*;

#[test]
fn map_returns_values_in_order() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let expect: Vec<u64> = (0..1000u64).map(|x| x * x).collect();
    assert_eq!(pool.map(square, 0..1000u64).unwrap(), expect);
    assert_eq!(pool.map_chunked(square, 0..1000u64, 1).unwrap(), expect);
    assert_eq!(pool.map_chunked(square, 0..1000u64, 7).unwrap(), expect);
    assert_eq!(pool.map_chunked(square, 0..1000u64, 5000).unwrap(), expect);
    // Items may be references.
    let items: Vec<u64> = (0..1000).collect();
    assert_eq!(pool.map(square, &items).unwrap(), expect);
    let async_result = pool.map_async(square, items.clone()).unwrap();
    assert_eq!(async_result.get().unwrap(), expect);
}

#[test]
fn map_of_nothing_is_empty() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(1).unwrap();
    assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
    assert!(
        pool.starmap(add, Vec::<(u64, u64)>::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn starmap_unpacks_argument_tuples() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    let pairs: Vec<(u64, u64)> = (0..100).map(|i| (i, 10 * i)).collect();
    let expect: Vec<u64> = (0..100).map(|i| 11 * i).collect();
    assert_eq!(pool.starmap(add, &pairs).unwrap(), expect);
    assert_eq!(pool.starmap_chunked(add, &pairs, 3).unwrap(), expect);
    assert_eq!(
        pool.starmap_async(add, pairs).unwrap().get().unwrap(),
        expect
    );
}

#[test]
fn apply_and_apply_async() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply(add, (2, 3)).unwrap(), 5);
    let results: Vec<_> = (0..20u64)
        .map(|i| pool.apply_async(square, (i,)).unwrap())
        .collect();
    let values: Vec<u64> = results.into_iter().map(|r| r.get().unwrap()).collect();
    assert_eq!(values, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
    // A closure that captures nothing is a function too.
    assert_eq!(
        pool.apply(|s: String| s.len(), ("four".to_string(),))
            .unwrap(),
        4
    );
}

#[test]
fn zero_processes_and_other_bad_settings_are_errors() {
    let _d = mp_testkit::deadline(secs(60));
    assert!(matches!(Pool::new(0), Err(Error::InvalidSetting(_))));
    assert!(matches!(
        Pool::builder().processes(0).build(),
        Err(Error::InvalidSetting(_))
    ));
    assert!(matches!(
        Pool::builder().processes(1).maxtasksperchild(0).build(),
        Err(Error::InvalidSetting(_))
    ));
    assert!(matches!(
        Pool::builder().processes(1).ring_size(10).build(),
        Err(Error::InvalidSetting(_))
    ));
    assert!(matches!(
        Pool::builder().processes(1).imap_window(0).build(),
        Err(Error::InvalidSetting(_))
    ));
    let pool = Pool::new(1).unwrap();
    assert!(matches!(
        pool.map_chunked(square, 0..10u64, 0),
        Err(Error::InvalidSetting(_))
    ));
    assert!(matches!(
        pool.imap_chunked(square, 0..10u64, 0),
        Err(Error::InvalidSetting(_))
    ));
}

#[test]
fn the_default_is_one_worker_per_cpu() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::new(None).unwrap();
    assert_eq!(pool.processes(), mp_process::cpu_count());
    assert_eq!(pool.pids().len(), mp_process::cpu_count());
    let pool = Pool::builder().build().unwrap();
    assert_eq!(pool.processes(), mp_process::cpu_count());
}

#[test]
fn every_start_method_runs_tasks() {
    let _d = mp_testkit::deadline(secs(120));
    for method in mp_process::StartMethod::ALL {
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .build()
            .unwrap();
        assert_eq!(
            pool.map(square, 0..100u64).unwrap(),
            (0..100u64).map(|x| x * x).collect::<Vec<_>>(),
            "{method}"
        );
        let pids = pool.pids();
        assert_eq!(pids.len(), 2);
        assert!(!pids.contains(&std::process::id()));
    }
}

#[test]
fn a_pool_of_200_workers() {
    let _d = mp_testkit::deadline(secs(240));
    let pool = Pool::new(200).unwrap();
    assert_eq!(pool.pids().len(), 200);
    let values = pool.map_chunked(square, 0..2000u64, 1).unwrap();
    assert_eq!(values, (0..2000u64).map(|x| x * x).collect::<Vec<_>>());
    let pids = pool.pids();
    pool.close();
    pool.join_timeout(secs(60)).unwrap();
    assert!(all_gone(&pids));
}

#[test]
fn large_chunks_stream_through_a_small_ring() {
    let _d = mp_testkit::deadline(secs(60));
    let pool = Pool::builder()
        .processes(2)
        .ring_size(64 << 10)
        .build()
        .unwrap();
    // Strings of 1 KiB: one chunk of 500 items is ~0.5 MiB, 8x the ring.
    let items: Vec<String> = (0..1000).map(|i| format!("{i:01024}")).collect();
    let lens = pool.map_chunked(|s: String| s.len(), &items, 500).unwrap();
    assert!(lens.iter().all(|&n| n == 1024));
    fn echo(s: String) -> String {
        s
    }
    assert_eq!(pool.map(echo, &items).unwrap(), items);
}
