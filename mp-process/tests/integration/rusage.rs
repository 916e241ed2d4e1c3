//! A joined child's resource usage, as `os.wait4` reports it. Fork is left
//! out: its children are reaped as Spawn's and the forkserver's are, and
//! forking this threaded test process prints mp's warning.

use super::*;

/// Burns `ms` of CPU time (not wall time: a loaded machine stretches it).
fn burns_cpu(ms: u64) {
    let start = cpu_time();
    let mut x = 0u64;
    while cpu_time() - start < Duration::from_millis(ms) {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[test]
fn a_joined_child_reports_its_cpu_time() {
    let _d = deadline(6 * T);
    for method in [StartMethod::Forkserver, StartMethod::Spawn] {
        let mut p = Context::new(method).process(burns_cpu, (300,));
        assert_eq!(p.rusage(), None, "{method:?}: not started");
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let used = p.rusage().unwrap_or_else(|| panic!("{method:?}: no usage"));
        assert!(
            used.cpu_time() >= Duration::from_millis(300),
            "{method:?}: {used:?}"
        );
        assert!(
            used.user_time() >= Duration::from_millis(200),
            "{method:?}: {used:?}"
        );
        assert!(used.max_rss() > 0, "{method:?}: {used:?}");
    }
}

#[test]
fn usage_is_known_only_once_the_child_has_ended() {
    let _d = deadline(T);
    for method in [StartMethod::Forkserver, StartMethod::Spawn] {
        let (r, w) = pipe().unwrap();
        let mut p = Context::new(method).process(waits_for_word, (r,));
        p.start().unwrap();
        assert_eq!(p.rusage(), None, "{method:?}: still running");
        w.send(&()).unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(p.rusage().is_some(), "{method:?}");
    }
}

fn waits_for_word(r: Connection) {
    r.recv::<()>().unwrap();
}
