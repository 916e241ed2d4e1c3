//! Integration tests of mp-redis against real redis-server processes that
//! the tests start themselves. Every test arms a deadline.

mod pool;
mod queue;
mod support;

/// Functions the pool tests run; registered for every worker of this binary.
pub(crate) mod functions {
    pub(crate) fn square(x: u64) -> u64 {
        x * x
    }

    pub(crate) fn add(a: u64, b: u64) -> u64 {
        a + b
    }

    pub(crate) fn fail_on_odd(x: u64) -> u64 {
        assert!(x % 2 == 0, "odd {x}");
        x
    }

    /// Sleeps `ms` then returns its pid.
    pub(crate) fn sleep_ms(ms: u64) -> u32 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        std::process::id()
    }

    /// Kills the worker running it.
    pub(crate) fn die(_: u64) -> u64 {
        std::process::abort()
    }

    /// Returns the worker's pid (for "runs elsewhere" checks).
    pub(crate) fn whoami(x: u64) -> (u64, u32) {
        (x, std::process::id())
    }

    mp_redis::register!(square, add, fail_on_odd, sleep_ms, die, whoami);
}
