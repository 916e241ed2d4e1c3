//! Integration tests of mp-pool: real worker processes, real shared memory.
//! Every test arms a deadline; every wait has a timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mp_pool::{Error, Pool};

mod tasks {
    //! Functions the tests run in workers.

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn square(x: u64) -> u64 {
        x * x
    }

    pub(crate) fn add(a: u64, b: u64) -> u64 {
        a + b
    }

    pub(crate) fn sleep_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    pub(crate) fn pid_of(_: u64) -> u32 {
        std::process::id()
    }

    pub(crate) fn panic_on(x: u64) -> u64 {
        if x % 7 == 3 {
            panic!("task {x} failed");
        }
        x
    }

    pub(crate) fn always_panic(x: u64) -> u64 {
        panic!("boom {x}");
    }

    /// Fails item `x` after a delay that makes later failures come first.
    pub(crate) fn fail_slowly_for_low_items(x: u64) -> u64 {
        if x == 100 || x == 500 || x == 900 {
            std::thread::sleep(Duration::from_millis(1000 - x));
            panic!("item {x}");
        }
        x
    }

    /// Dies the way `how` says, while running a task.
    pub(crate) fn die(how: String) -> u64 {
        use rustix::process::{Resource, Rlimit, Signal, getpid, kill_process, setrlimit};
        // No core file from the crash.
        let _ = setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
        match how.as_str() {
            "sigkill" => {
                let _ = kill_process(getpid(), Signal::KILL);
            }
            "abort" => std::process::abort(),
            "segfault" => {
                let _ = kill_process(getpid(), Signal::SEGV);
            }
            "exit3" => std::process::exit(3),
            _ => {}
        }
        std::thread::sleep(Duration::from_secs(30));
        0
    }

    /// Item `bad` SIGKILLs its worker after `ms`; the others sleep a little.
    pub(crate) fn die_at(x: u64, bad: u64, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(if x == bad { ms } else { 5 }));
        if x == bad {
            let _ = die("sigkill".to_owned());
        }
        x
    }

    /// Item `bad` writes its pid to `path` and sleeps (to be killed).
    pub(crate) fn hang_at(x: u64, bad: u64, path: String) -> u64 {
        if x == bad {
            std::fs::write(&path, std::process::id().to_string()).unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        x
    }

    /// Serializes only even values: odd ones are an encode error.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    pub(crate) struct EvenOnly(pub u32);

    impl Serialize for EvenOnly {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 % 2 == 1 {
                return Err(serde::ser::Error::custom(format!("{} is odd", self.0)));
            }
            s.serialize_u32(self.0)
        }
    }

    /// Deserializes only values other than 13: 13 is a decode error.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub(crate) struct Not13(pub u32);

    impl<'de> Deserialize<'de> for Not13 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Not13, D::Error> {
            let v = u32::deserialize(d)?;
            if v == 13 {
                return Err(serde::de::Error::custom("13 is unlucky"));
            }
            Ok(Not13(v))
        }
    }

    /// Its `Deserialize` panics on 7 (a bug in user code, not an error).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub(crate) struct Panics7(pub u32);

    impl<'de> Deserialize<'de> for Panics7 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Panics7, D::Error> {
            let v = u32::deserialize(d)?;
            assert!(v != 7, "cannot take 7");
            Ok(Panics7(v))
        }
    }

    pub(crate) fn make_panics7(x: u32) -> Panics7 {
        Panics7(x)
    }

    pub(crate) fn even_only(x: EvenOnly) -> u32 {
        x.0
    }

    pub(crate) fn not13(x: Not13) -> u32 {
        x.0
    }

    pub(crate) fn make_even_only(x: u32) -> EvenOnly {
        EvenOnly(x)
    }

    pub(crate) fn make_not13(x: u32) -> Not13 {
        Not13(x)
    }

    pub(crate) static INIT_CALLS: AtomicU32 = AtomicU32::new(0);
    pub(crate) static INIT_VALUE: AtomicU32 = AtomicU32::new(0);

    pub(crate) fn init(value: u32) {
        INIT_CALLS.fetch_add(1, Ordering::SeqCst);
        INIT_VALUE.store(value, Ordering::SeqCst);
    }

    pub(crate) fn init_panics(why: String) {
        panic!("{why}");
    }

    /// (pid, initializer calls, initializer value) in the worker.
    pub(crate) fn init_state(_: u64) -> (u32, u32, u32) {
        (
            std::process::id(),
            INIT_CALLS.load(Ordering::SeqCst),
            INIT_VALUE.load(Ordering::SeqCst),
        )
    }
}

use tasks::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Waits until none of `pids` is running.
fn all_gone(pids: &[u32]) -> bool {
    mp_testkit::eventually(secs(10), || {
        pids.iter().all(|&p| !mp_testkit::is_running(p))
    })
}

mod basics {
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
}

mod async_results {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    use mp_pool::Callbacks;

    use super::*;

    #[test]
    fn get_timeout_times_out_and_the_task_keeps_running() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(1).unwrap();
        let result = pool.apply_async(sleep_ms, (600,)).unwrap();
        let t = Instant::now();
        assert_eq!(
            result.get_timeout(Duration::from_millis(200)),
            Err(Error::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(!result.ready());
        assert!(!result.wait_timeout(Duration::from_millis(10)));
        assert_eq!(result.get_timeout(secs(30)), Ok(600));
        assert_eq!(result.get_timeout(secs(1)), Err(Error::ResultTaken));
        assert_eq!(result.successful(), Ok(true));
    }

    #[test]
    fn wait_ready_and_successful() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(2).unwrap();
        let slow = pool.apply_async(sleep_ms, (300,)).unwrap();
        assert_eq!(slow.successful(), Err(Error::NotReady));
        assert!(!slow.ready());
        slow.wait().unwrap();
        assert!(slow.ready());
        assert_eq!(slow.successful(), Ok(true));
        assert_eq!(slow.get(), Ok(300));

        let failing = pool.apply_async(always_panic, (1,)).unwrap();
        assert!(failing.wait_timeout(secs(30)));
        assert_eq!(failing.successful(), Ok(false));
        assert_eq!(failing.get(), Err(Error::Panicked("boom 1".to_owned())));
    }

    #[test]
    fn callbacks_run_in_this_process_before_get_returns() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(2).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s1, s2) = (seen.clone(), seen.clone());
        let ok = pool
            .apply_async_with(
                square,
                (9,),
                Callbacks::new().callback(move |v: &u64| {
                    s1.lock()
                        .unwrap()
                        .push(format!("ok {v} in {}", std::process::id()))
                }),
            )
            .unwrap();
        let err = pool
            .apply_async_with(
                always_panic,
                (2,),
                Callbacks::new()
                    .callback(|_: &u64| panic!("not called"))
                    .error_callback(move |e| s2.lock().unwrap().push(format!("err {e}"))),
            )
            .unwrap();
        assert_eq!(ok.get(), Ok(81));
        assert!(err.get().is_err());
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.contains(&format!("ok 81 in {}", std::process::id())),
            "{seen:?}"
        );
        assert!(
            seen.contains(&"err the task panicked: boom 2".to_owned()),
            "{seen:?}"
        );

        let (tx, rx) = mpsc::channel();
        let all = pool
            .map_async_with(
                square,
                0..10u64,
                Some(3),
                Callbacks::new()
                    .callback(move |v: &Vec<u64>| tx.send(v.iter().sum::<u64>()).unwrap()),
            )
            .unwrap();
        assert_eq!(rx.recv_timeout(secs(30)), Ok(285));
        assert_eq!(all.get().unwrap().len(), 10);
    }

    #[test]
    fn a_blocking_call_in_a_callback_is_an_error_not_a_hang() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Arc::new(Pool::new(1).unwrap());
        let (tx, rx) = mpsc::channel();
        let inner = pool.clone();
        let r = pool
            .apply_async_with(
                square,
                (2,),
                Callbacks::new().callback(move |_: &u64| {
                    tx.send(inner.apply(square, (3,))).unwrap();
                }),
            )
            .unwrap();
        assert_eq!(r.get(), Ok(4));
        assert_eq!(
            rx.recv_timeout(secs(30)).unwrap(),
            Err(Error::CalledFromCallback)
        );
    }
}

mod task_errors {
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
}

mod worker_deaths {
    use super::*;

    #[test]
    fn a_worker_sigkilled_mid_task_during_map() {
        let _d = mp_testkit::deadline(secs(120));
        let pool = Pool::new(2).unwrap();
        let path = std::env::temp_dir().join(format!("mp-pool-hang-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let p = path.to_str().unwrap().to_owned();
        let args: Vec<(u64, u64, String)> = (0..20).map(|i| (i, 7, p.clone())).collect();
        let result = pool
            .starmap_async_with(hang_at, args, Some(1), Default::default())
            .unwrap();
        assert!(mp_testkit::eventually(secs(30), || path.exists()
            && !std::fs::read_to_string(&path)
                .unwrap_or_default()
                .is_empty()));
        let pid: i32 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let _ = std::fs::remove_file(&path);
        let killed = Instant::now();
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        assert_eq!(
            result.get_timeout(secs(30)),
            Err(Error::WorkerLost { exitcode: -9 })
        );
        let took = killed.elapsed();
        assert!(took < secs(10), "the loss was reported after {took:?}");
        // The worker is replaced and the pool goes on.
        assert!(mp_testkit::eventually(secs(10), || pool.pids().len() == 2));
        assert!(!pool.pids().contains(&(pid as u32)));
        assert_eq!(pool.map(square, 0..100u64).unwrap()[10], 100);
    }

    #[test]
    fn only_the_running_task_fails_and_queued_ones_run_elsewhere() {
        let _d = mp_testkit::deadline(secs(120));
        let pool = Pool::new(2).unwrap();
        // Item 3 kills its worker after 300 ms, while that worker holds
        // other chunks it has not started.
        let results: Vec<_> = pool
            .imap(|x: u64| die_at(x, 3, 300), 0..60u64)
            .unwrap()
            .collect();
        for (i, r) in results.iter().enumerate() {
            if i == 3 {
                assert_eq!(*r, Err(Error::WorkerLost { exitcode: -9 }));
            } else {
                assert_eq!(*r, Ok(i as u64));
            }
        }
        // apply_async: exactly one of 20 fails.
        let handles: Vec<_> = (0..20u64)
            .map(|i| pool.apply_async(die_at, (i, 7, 200)).unwrap())
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.get()).collect();
        let failed: Vec<usize> = (0..20).filter(|&i| outcomes[i].is_err()).collect();
        assert_eq!(failed, [7]);
        assert_eq!(outcomes[7], Err(Error::WorkerLost { exitcode: -9 }));
    }

    #[test]
    fn abort_segfault_exit_and_sigkill_are_reported_with_their_codes() {
        let _d = mp_testkit::deadline(secs(120));
        let pool = Pool::new(2).unwrap();
        for (how, code) in [
            ("abort", -6),
            ("segfault", -11),
            ("exit3", 3),
            ("sigkill", -9),
        ] {
            let before = pool.pids();
            let t = Instant::now();
            let r = pool.apply_async(die, (how.to_owned(),)).unwrap();
            assert_eq!(
                r.get_timeout(secs(30)),
                Err(Error::WorkerLost { exitcode: code }),
                "{how}"
            );
            assert!(
                t.elapsed() < secs(10),
                "{how} reported after {:?}",
                t.elapsed()
            );
            assert!(mp_testkit::eventually(secs(10), || pool.pids().len() == 2));
            assert_ne!(pool.pids(), before, "{how}: the worker was replaced");
            assert_eq!(pool.apply(square, (4,)), Ok(16));
        }
    }
}

mod lifetime {
    use super::*;

    #[test]
    fn close_then_join_finishes_the_work() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(2).unwrap();
        let result = pool
            .map_async_with(sleep_ms, vec![20u64; 20], Some(1), Default::default())
            .unwrap();
        let pids = pool.pids();
        pool.close();
        pool.join_timeout(secs(30)).unwrap();
        assert_eq!(result.get_timeout(secs(1)).unwrap(), vec![20; 20]);
        assert!(all_gone(&pids));
    }

    #[test]
    fn a_closed_pool_whose_worker_dies_still_finishes_and_joins() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(2).unwrap();
        // Item 0 kills its worker while that worker holds item 2, which then
        // runs (at once) on the other worker while a replacement starts:
        // the replacement must be told to stop too.
        fn die_first(x: u64) -> u64 {
            if x == 0 {
                die_at(0, 0, 200);
            }
            x
        }
        let result = pool
            .map_async_with(die_first, 0..3u64, Some(1), Default::default())
            .unwrap();
        pool.close();
        pool.join_timeout(secs(30)).unwrap();
        assert_eq!(
            result.get_timeout(secs(1)),
            Err(Error::WorkerLost { exitcode: -9 })
        );
        assert!(pool.pids().is_empty());
    }

    #[test]
    fn use_after_close_or_terminate_is_an_error() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(1).unwrap();
        pool.close();
        assert_eq!(pool.apply(square, (1,)), Err(Error::Closed));
        assert_eq!(pool.map(square, 0..3u64), Err(Error::Closed));
        assert!(matches!(pool.imap(square, 0..3u64), Err(Error::Closed)));
        assert!(matches!(pool.apply_async(square, (1,)), Err(Error::Closed)));
        pool.join_timeout(secs(30)).unwrap();

        let pool = Pool::new(1).unwrap();
        pool.terminate();
        assert_eq!(pool.apply(square, (1,)), Err(Error::Terminated));
        assert_eq!(pool.starmap(add, [(1u64, 2u64)]), Err(Error::Terminated));
        pool.join_timeout(secs(30)).unwrap();
    }

    #[test]
    fn join_needs_close_or_terminate_first() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(1).unwrap();
        assert_eq!(pool.join(), Err(Error::StillRunning));
        assert_eq!(pool.join_timeout(secs(1)), Err(Error::StillRunning));
        let slow = pool.apply_async(sleep_ms, (1500,)).unwrap();
        pool.close();
        assert_eq!(
            pool.join_timeout(Duration::from_millis(100)),
            Err(Error::Timeout)
        );
        pool.join_timeout(secs(30)).unwrap();
        assert_eq!(slow.get(), Ok(1500));
    }

    #[test]
    fn terminate_is_prompt_with_10000_long_tasks_queued() {
        let _d = mp_testkit::deadline(secs(120));
        let pool = Pool::new(2).unwrap();
        let results: Vec<_> = (0..10_000)
            .map(|_| pool.apply_async(sleep_ms, (30_000,)).unwrap())
            .collect();
        let long_map = pool.map_async(sleep_ms, vec![30_000u64; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let pids = pool.pids();
        let t = Instant::now();
        pool.terminate();
        let took = t.elapsed();
        assert!(took < secs(5), "terminate took {took:?}");
        for r in results {
            assert_eq!(r.get_timeout(secs(5)), Err(Error::Terminated));
        }
        assert_eq!(long_map.get(), Err(Error::Terminated));
        pool.join_timeout(secs(30)).unwrap();
        assert!(all_gone(&pids));
    }

    #[test]
    fn dropping_a_pool_leaves_no_process_behind() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(3).unwrap();
        let pending = pool.apply_async(sleep_ms, (30_000,)).unwrap();
        let pids = pool.pids();
        assert_eq!(pids.len(), 3);
        assert!(pids.iter().all(|&p| mp_testkit::is_running(p)));
        drop(pool);
        assert!(pids.iter().all(|&p| !mp_testkit::is_running(p)));
        assert_eq!(pending.get_timeout(secs(5)), Err(Error::Terminated));
    }

    #[test]
    fn maxtasksperchild_replaces_workers() {
        let _d = mp_testkit::deadline(secs(120));
        let pool = Pool::builder()
            .processes(2)
            .maxtasksperchild(10)
            .build()
            .unwrap();
        let pids = pool.map_chunked(pid_of, 0..100u64, 1).unwrap();
        let mut counts = std::collections::HashMap::new();
        for pid in &pids {
            *counts.entry(*pid).or_insert(0) += 1;
        }
        assert!(counts.values().all(|&n| n <= 10), "{counts:?}");
        assert!(counts.len() >= 10, "{counts:?}");
        // Still two workers afterwards.
        assert!(mp_testkit::eventually(secs(10), || pool.pids().len() == 2));
    }

    #[test]
    fn the_initializer_runs_once_in_every_worker() {
        let _d = mp_testkit::deadline(secs(120));
        let pool = Pool::builder()
            .processes(2)
            .initializer(init, (42,))
            .maxtasksperchild(5)
            .build()
            .unwrap();
        let states = pool.map_chunked(init_state, 0..40u64, 1).unwrap();
        let pids: std::collections::HashSet<u32> = states.iter().map(|s| s.0).collect();
        assert!(pids.len() >= 8);
        assert!(
            states
                .iter()
                .all(|&(_, calls, value)| calls == 1 && value == 42),
            "{states:?}"
        );
        // Not in this process.
        assert_eq!(INIT_CALLS.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_failing_initializer_fails_the_tasks_instead_of_looping() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::builder()
            .processes(2)
            .initializer(init_panics, ("no database".to_owned(),))
            .build()
            .unwrap();
        let r = pool.apply_async(square, (2,)).unwrap();
        assert_eq!(
            r.get_timeout(secs(30)),
            Err(Error::Initializer("no database".to_owned()))
        );
        assert_eq!(
            pool.apply(square, (2,)),
            Err(Error::Initializer("no database".to_owned()))
        );
        pool.join_timeout(secs(30)).unwrap();
    }

    #[test]
    fn pools_and_results_cross_threads() {
        let _d = mp_testkit::deadline(secs(60));
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Pool>();
        send_sync::<mp_pool::AsyncResult<Vec<String>>>();
        send_sync::<Error>();
        let squares: Vec<u64> = (0..100).map(|x| x * x).collect();
        let pool = Pool::new(2).unwrap();
        // Submitted on another thread: one result collected there, one here.
        let (pending, there) = std::thread::scope(|s| {
            s.spawn(|| {
                let pending = pool.map_async(square, 0..100u64).unwrap();
                let there = pool.apply_async(add, (2, 3)).unwrap().get_timeout(secs(30));
                (pending, there)
            })
            .join()
            .unwrap()
        });
        assert_eq!(there, Ok(5));
        assert_eq!(pending.get_timeout(secs(30)).as_ref(), Ok(&squares));
        // Submitted here, collected on another thread, which also takes the
        // pool itself, uses it and shuts it down.
        let here = pool.apply_async(square, (7u64,)).unwrap();
        let (got, mapped) = std::thread::spawn(move || {
            let got = here.get_timeout(secs(30));
            let mapped = pool.map(square, 0..100u64);
            pool.close();
            pool.join_timeout(secs(30)).unwrap();
            (got, mapped)
        })
        .join()
        .unwrap();
        assert_eq!(got, Ok(49));
        assert_eq!(mapped, Ok(squares));
    }

    #[test]
    fn threads_can_share_a_pool() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(2).unwrap();
        let total = AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (pool, total) = (&pool, &total);
                s.spawn(move || {
                    let v = pool.map(square, t * 100..(t + 1) * 100).unwrap();
                    total.fetch_add(v.len() as u32, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(total.load(Ordering::SeqCst), 400);
    }
}

mod lazy {
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
        // Slow items first: unordered results do not wait for them.
        let delays = [400u64, 1, 1, 1, 1, 1];
        let mut unordered: Vec<u64> = pool
            .imap_unordered(sleep_ms, delays)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(unordered[0], 1, "{unordered:?}");
        unordered.sort();
        assert_eq!(unordered, [1, 1, 1, 1, 1, 400]);
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
        std::thread::sleep(Duration::from_millis(200));
        // 10 consumed: 4 chunks taken, at most 5 more in flight.
        let n = pulled.load(Ordering::SeqCst);
        assert!(n <= (4 + 5) * 3, "pulled {n}");
    }

    #[test]
    fn imap_next_timeout() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(1).unwrap();
        let mut it = pool.imap(sleep_ms, [500u64, 1]).unwrap();
        let t = Instant::now();
        assert_eq!(
            it.next_timeout(Duration::from_millis(100)),
            Some(Err(Error::Timeout))
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
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
}

mod interrupt {
    use mp_pipe::Connection;
    use rustix::process::{Pid, Signal, kill_process};

    use super::*;

    /// In a child: a pool, its worker pids sent to the test, then a long
    /// map that the test interrupts with SIGINT.
    fn interrupted_map(conn: Connection) -> String {
        let pool = Pool::new(2).unwrap();
        let t = Instant::now();
        let r = pool
            .map_async_with(sleep_ms, vec![30_000u64; 4], Some(1), Default::default())
            .unwrap();
        conn.send(&pool.pids()).unwrap();
        let r = r.get();
        format!("{r:?} after {} ms", t.elapsed().as_millis())
    }

    /// In a child: a pool used once, then idle when SIGINT comes.
    fn idle_pool(conn: Connection) -> String {
        let pool = Pool::new(1).unwrap();
        pool.apply(square, (3,)).unwrap();
        conn.send(&pool.pids()).unwrap();
        std::thread::sleep(secs(30));
        "not interrupted".to_owned()
    }

    fn sigint(pid: u32) {
        kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::INT).unwrap();
    }

    #[test]
    fn sigint_during_map_is_interrupted_and_leaves_no_worker() {
        let _d = mp_testkit::deadline(secs(120));
        let (ours, theirs) = mp_pipe::pipe().unwrap();
        let mut child = mp_process::spawn(interrupted_map, (theirs,)).unwrap();
        let pids: Vec<u32> = ours.recv_timeout(secs(60)).unwrap();
        assert_eq!(pids.len(), 2);
        std::thread::sleep(Duration::from_millis(300));
        sigint(child.process().pid().unwrap());
        let outcome = child.join_timeout(secs(30)).unwrap();
        assert!(outcome.starts_with("Err(Interrupted)"), "{outcome}");
        assert!(all_gone(&pids), "workers left behind");
    }

    #[test]
    fn sigint_outside_pool_calls_still_ends_the_program() {
        let _d = mp_testkit::deadline(secs(120));
        let (ours, theirs) = mp_pipe::pipe().unwrap();
        let mut child = mp_process::spawn(idle_pool, (theirs,)).unwrap();
        let pids: Vec<u32> = ours.recv_timeout(secs(60)).unwrap();
        sigint(child.process().pid().unwrap());
        let outcome = child.join_timeout(secs(30));
        assert!(
            matches!(outcome, Err(mp_process::JoinError::Died { exitcode: -2 })),
            "{outcome:?}"
        );
        assert!(all_gone(&pids), "workers left behind");
    }

    #[test]
    fn workers_ignore_sigint() {
        let _d = mp_testkit::deadline(secs(60));
        let pool = Pool::new(2).unwrap();
        // Both workers are up and running tasks.
        pool.map_chunked(sleep_ms, [100u64, 100], 1).unwrap();
        let pids = pool.pids();
        let slow = pool.apply_async(sleep_ms, (300,)).unwrap();
        for &pid in &pids {
            sigint(pid);
        }
        assert_eq!(slow.get_timeout(secs(30)), Ok(300));
        assert_eq!(pool.pids(), pids);
        assert_eq!(pool.apply(square, (5,)), Ok(25));
    }
}
