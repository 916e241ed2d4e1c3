//! The workers' resource usage after `join`: `Pool::workers_rusage` counts
//! every worker the pool had, replaced ones included.

use mp_process::StartMethod;

use super::*;

/// Burns `ms` of this process's CPU time; returns `ms`.
fn burns_cpu(ms: u64) -> u64 {
    let cpu = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    };
    let start = cpu();
    let mut x = 0u64;
    while cpu() - start < Duration::from_millis(ms) {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    ms
}

#[test]
fn joined_workers_report_the_cpu_they_used() {
    let _d = mp_testkit::deadline(secs(120));
    // Fork reaps as Spawn does (the workers are ours) and would print its
    // warning about this threaded test process.
    for method in [StartMethod::Forkserver, StartMethod::Spawn] {
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .maxtasksperchild(2)
            .build()
            .unwrap();
        assert_eq!(pool.workers_rusage().cpu_time(), Duration::ZERO);
        // Six tasks of 100 ms, at most two per worker: replaced workers count too.
        assert_eq!(pool.map(burns_cpu, [100u64; 6]).unwrap(), [100; 6]);
        pool.close();
        pool.join().unwrap();
        let used = pool.workers_rusage();
        assert!(
            used.cpu_time() >= Duration::from_millis(600),
            "{method:?}: {used:?}"
        );
        assert!(used.max_rss() > 0, "{method:?}: {used:?}");
    }
}
