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

/// Wakes up to `n` sleepers on `word`.
pub fn wake(word: &AtomicU32, n: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), n);
}

/// Wakes every sleeper on `word`.
pub fn wake_all(word: &AtomicU32) {
    wake(word, u32::MAX);
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
}
