//! Integration tests of mp-redis against real redis-server processes that
//! the tests start themselves. Every test arms a deadline.

mod campaigns;
mod faults;
mod netns;
mod pool;
mod queue;
mod support;
mod tls;

/// Functions the pool tests run; registered for every worker of this binary.
pub(crate) mod functions {
    pub(crate) fn square(x: u64) -> u64 {
        x * x
    }

    pub(crate) fn add(a: u64, b: u64) -> u64 {
        a + b
    }

    pub(crate) fn fail_on_odd(x: u64) -> u64 {
        if !x.is_multiple_of(2) {
            mp_testkit::panic_quietly(format!("odd {x}"));
        }
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

    /// One run of a task, counted in Redis (hash `key`, field `index`).
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    pub(crate) struct Tally {
        pub(crate) url: String,
        pub(crate) key: String,
        pub(crate) index: u64,
        pub(crate) ms: u64,
    }

    /// Counts the run, sleeps `ms`, returns the index.
    pub(crate) fn record(t: Tally) -> u64 {
        let mut conn = crate::support::connection(&t.url);
        let _: i64 = redis::cmd("HINCRBY")
            .arg(&t.key)
            .arg(t.index)
            .arg(1)
            .query(&mut conn)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(t.ms));
        t.index
    }

    /// Kills its worker when `index == poison`.
    pub(crate) fn poison_at(index: u64, poison: u64) -> u64 {
        if index == poison {
            std::process::abort();
        }
        index
    }

    /// Takes an OS handle: refused before it is sent.
    pub(crate) fn takes_a_handle(fd: mp_handle::Fd) -> u64 {
        drop(fd);
        0
    }

    mp_redis::register!(
        takes_a_handle,
        square,
        add,
        fail_on_odd,
        sleep_ms,
        die,
        whoami,
        record,
        poison_at
    );
}
