//! Futex sleeps and wake-ups on a shared `AtomicU32`.
//!
//! The words live in memory shared between processes, so the calls use
//! the shared (not the process-private) futex flags.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::thread::futex;

/// Sleeps while `word` holds `expected`, for at most `left` (`None`: until
/// woken). Returns on a wake-up, a timeout, a signal or a changed word
/// alike: every caller looks at its condition again.
pub fn wait(word: &AtomicU32, expected: u32, left: Option<Duration>) {
    let timeout = left.map(|d| futex::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    });
    // EAGAIN (the word changed), ETIMEDOUT and EINTR all mean "look again".
    let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
}

/// The most sleepers one wake-up call can name: the kernel reads the
/// count as a signed `int`, so `u32::MAX` would be -1, which wakes one.
const MAX_WAKE: u32 = i32::MAX as u32;

/// Wakes up to `n` sleepers on `word`.
pub fn wake(word: &AtomicU32, n: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), n.min(MAX_WAKE));
}

/// Wakes every sleeper on `word`.
pub fn wake_all(word: &AtomicU32) {
    wake(word, MAX_WAKE);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn a_sleep_ends_at_its_timeout_or_at_a_wake() {
        let _d = mp_testkit::deadline(Duration::from_secs(30));
        let word = Arc::new(AtomicU32::new(0));
        let t = Instant::now();
        super::wait(&word, 0, Some(Duration::from_millis(30)));
        assert!(t.elapsed() >= Duration::from_millis(30));
        // A changed word returns at once.
        super::wait(&word, 1, None);

        let sleeper = {
            let word = word.clone();
            std::thread::spawn(move || {
                while word.load(Ordering::Acquire) == 0 {
                    super::wait(&word, 0, None);
                }
            })
        };
        word.store(1, Ordering::Release);
        super::wake_all(&word);
        sleeper.join().unwrap();
    }

    /// Whether thread `tid` of this process is blocked in a futex call
    /// (`/proc/<pid>/task/<tid>/syscall` names the call a thread sleeps in).
    fn in_futex_call(tid: i32) -> bool {
        let path = format!("/proc/self/task/{tid}/syscall");
        std::fs::read_to_string(path).is_ok_and(|s| {
            s.split_whitespace().next() == Some(libc::SYS_futex.to_string().as_str())
        })
    }

    #[test]
    fn wake_all_wakes_every_sleeper() {
        let _d = mp_testkit::deadline(Duration::from_secs(60));
        let word = Arc::new(AtomicU32::new(0));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let sleepers: Vec<_> = (0..3)
            .map(|_| {
                let word = word.clone();
                let tid_tx = tid_tx.clone();
                std::thread::spawn(move || {
                    tid_tx
                        .send(rustix::thread::gettid().as_raw_nonzero().get())
                        .unwrap();
                    // One sleep each, ended by a wake-up (or its timeout).
                    super::wait(&word, 0, Some(Duration::from_secs(15)));
                    Instant::now()
                })
            })
            .collect();
        let tids: Vec<i32> = (0..3).map(|_| tid_rx.recv().unwrap()).collect();
        assert!(
            mp_testkit::eventually(Duration::from_secs(10), || tids
                .iter()
                .all(|&t| in_futex_call(t))),
            "the sleepers never slept"
        );
        let woken_at = Instant::now();
        super::wake_all(&word);
        for s in sleepers {
            let woke = s.join().unwrap();
            assert!(
                woke.duration_since(woken_at) < Duration::from_secs(10),
                "a sleeper slept through wake_all"
            );
        }
    }
}
