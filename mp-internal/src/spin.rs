//! Whether a waiter should spin before it sleeps.
//!
//! mp's blocking calls (a pipe's `recv`, a queue's `get`) first look for
//! their peer's answer for some microseconds without sleeping, which saves
//! the cross-core wake-up when the peer answers quickly. That only works
//! when the peer can run meanwhile: on one CPU (pinned with `taskset`, or a
//! container given one CPU with a cpuset) a spinning waiter holds up the
//! very peer it waits for, by the whole spin, on every message. (A CPU
//! quota, such as `docker --cpus=1`, leaves the affinity mask alone: there
//! waiters still spin.)

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long a thread trusts its last look at how many CPUs it may use.
pub const RECHECK_EVERY: Duration = Duration::from_millis(100);

/// Calls between readings of the clock (to see whether [`RECHECK_EVERY`]
/// has passed): a call then costs a thread-local counter, not a clock read.
const CALLS_PER_CLOCK_READ: u32 = 64;

#[derive(Clone, Copy)]
struct CpuLook {
    /// When the thread last looked at its CPUs (`None`: never).
    at: Option<Instant>,
    /// Whether it could spin then.
    may_spin: bool,
    /// Calls since the clock was last read.
    calls: u32,
}

thread_local! {
    static LAST: Cell<CpuLook> = const {
        Cell::new(CpuLook {
            at: None,
            may_spin: false,
            calls: 0,
        })
    };
}

/// Whether a wait should spin before it sleeps: only when the calling
/// thread may run on more than one CPU.
///
/// A call costs a thread-local counter. Every 64th call reads the clock,
/// and if the last look at the CPUs is [`RECHECK_EVERY`] old, looks again
/// (one system call): a thread pinned later (or a child pinned by its
/// parent) stops spinning by its 64th wait after that.
pub fn is_useful() -> bool {
    LAST.with(|last| {
        let mut look = last.get();
        look.calls += 1;
        if look.at.is_none() || look.calls >= CALLS_PER_CLOCK_READ {
            look = decide(look, Instant::now());
        }
        last.set(look);
        look.may_spin
    })
}

/// The longest pause between looks in [`until`]: 2^4 `pause`s (0.14 µs
/// where a `pause` takes 9 ns, as on the bench machine; about 0.7 µs where
/// it takes 140 cycles).
///
/// The cap bounds how late a waiter sees an answer that has arrived. With
/// 2^6 an answer the peer gave 0.5 µs in was seen up to 0.5 µs late (the
/// looks come 0.3, 0.6 and 1.1 µs in, then every 0.55 µs), so each
/// nanosecond of work on either side of a round trip cost up to two.
/// Measured with 2^4 on a 2-vCPU VM (manager calls and pipe round trips in
/// alternating blocks, three runs each): value get 1.27-1.30 ->
/// 1.08-1.09 µs, list append 1.35-1.39 -> 1.16-1.22 µs, the pipe round trip
/// 0.89 -> 0.89-0.94 µs; the queue's throughput (u64, 1 KiB, 1 MiB) and
/// ping-pong within noise. A queue's consumer that looks more often slows
/// its producer down (u64 items: 36-39 -> 32-33 M/s with 2^2).
const MAX_BACKOFF: u32 = 4;

/// The longest pause between looks in [`until_answer`]: 2^2 `pause`s
/// (35 ns on the bench machine).
///
/// A waiter for the answer to its request (the reply of a round trip)
/// expects one message, and every nanosecond it lets that message wait
/// unseen is a nanosecond of the round trip. Looks every 2^4 pauses put
/// the arrival on a lattice 0.15-0.17 µs wide (the pauses, the look, a
/// clock reading), so that a change of a few tens of nanoseconds on either
/// side moved a round trip by a whole step either way. Measured against
/// 2^4 with a reading every round (2-vCPU VM, the two builds run in turn):
/// the pipe's u64 round trip 0.95-1.02 -> 0.80-0.89 µs in blocks of 2000,
/// criterion's `pipe/roundtrip/u64` 854-966 -> 806-875 ns; the queue's
/// throughput and ping-pong, the semaphore ping-pong and `Value`'s
/// contended increments (which keep [`until`]) within noise.
const MAX_BACKOFF_ANSWER: u32 = 2;

/// Rounds per reading of the clock in [`until_answer`]: a reading (20-40
/// ns in a VM) between every two looks would space them out by half again.
/// ([`until`] reads it every round: its looks are spaced out anyway, and
/// fewer readings there made the looks of a queue's ping-pong come sooner
/// and the ping-pong slower, 280 -> 315 ns.)
const CLOCK_EVERY_ANSWER: u32 = 8;

/// From about 2 µs into the spin (where 2^6 pauses and a yield from round
/// 8 put it), every round also offers the CPU to another runnable thread
/// (`sched_yield`, a fraction of a microsecond when there is none). When
/// the other CPUs are busy with other work, the peer a waiter spins for
/// may be queued on this very CPU: spinning out the whole budget then held
/// up every hand-off by it (a manager call took 300 µs instead of 1.3),
/// where a yield lets the peer answer at once.
const YIELD_AFTER: Duration = Duration::from_micros(2);

/// Polls `ready` for about `limit` (not sleeping, announcing nothing, but
/// yielding the CPU between looks after the first few microseconds); true
/// as soon as it holds. On one CPU it looks once: the peer could not act
/// while we looked again ([`is_useful`]).
///
/// For waits on a stream of items (a queue's consumer or producer, a lock):
/// the looks back off to one every 2^4 pauses, so that a burst can pile up
/// between them. A wait for the answer to a request is [`until_answer`].
pub fn until(limit: Duration, ready: impl FnMut() -> bool) -> bool {
    until_paced(MAX_BACKOFF, 1, limit, ready)
}

/// [`until`] for the answer to a request (the reply of a round trip): the
/// looks come every 2^2 pauses at most.
pub fn until_answer(limit: Duration, ready: impl FnMut() -> bool) -> bool {
    until_paced(MAX_BACKOFF_ANSWER, CLOCK_EVERY_ANSWER, limit, ready)
}

/// Looks every 2^`max_backoff` pauses at most, reading the clock every
/// `clock_every` rounds.
fn until_paced(
    max_backoff: u32,
    clock_every: u32,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    if !is_useful() {
        return ready();
    }
    // The clock starts at the first reading (after the first round, or a
    // few in).
    let mut start = None;
    let mut yielding = false;
    let mut round = 0u32;
    loop {
        // Exponential backoff between looks: a waiter that polled the very
        // line its peer is about to write would turn every message into a
        // cache-line ping-pong. Looking less often lets a few messages pile
        // up, which then go through in a burst.
        for _ in 0..1u32 << round.min(max_backoff) {
            std::hint::spin_loop();
        }
        if yielding {
            // The peer may be waiting for this very CPU (the others busy
            // with other work): let it run rather than spin it out.
            std::thread::yield_now();
        }
        if ready() {
            return true;
        }
        round += 1;
        if round % clock_every == 0 {
            let now = Instant::now();
            let spun = now.duration_since(*start.get_or_insert(now));
            if spun >= limit {
                return false;
            }
            yielding = spun >= YIELD_AFTER;
        }
    }
}

/// How many of a wait's `n` spin rounds to do: all of them when spinning
/// [is useful](is_useful), none on one CPU.
pub fn rounds(n: u32) -> u32 {
    if is_useful() { n } else { 0 }
}

/// `look` brought up to date at `now`: the CPUs are looked at again if
/// the last look is [`RECHECK_EVERY`] old (or there was none).
fn decide(mut look: CpuLook, now: Instant) -> CpuLook {
    look.calls = 0;
    let fresh = look
        .at
        .is_some_and(|at| now.saturating_duration_since(at) < RECHECK_EVERY);
    if !fresh {
        look.at = Some(now);
        look.may_spin = cpus_here() > 1;
    }
    look
}

/// How many CPUs the calling thread may run on: its affinity mask (one
/// system call, where `available_parallelism` also reads cgroup files). A
/// mask that cannot be read (more CPUs than `CpuSet` holds) counts as many.
fn cpus_here() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(usize::MAX, |cpus| cpus.count() as usize)
}

#[cfg(test)]
mod tests {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    use super::{LAST, RECHECK_EVERY, cpus_here, decide, is_useful, rounds};

    /// Affinity is per thread: each test pins a thread of its own, never
    /// the test runner's.
    fn pin_this_thread_to_one_cpu() {
        let allowed = sched_getaffinity(None).unwrap();
        let first = (0..CpuSet::MAX_CPU)
            .find(|&cpu| allowed.is_set(cpu))
            .unwrap();
        let mut one = CpuSet::new();
        one.set(first);
        sched_setaffinity(None, &one).unwrap();
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_counts_one_and_never_spins() {
        let (cpus, spins, rounds) = std::thread::spawn(|| {
            pin_this_thread_to_one_cpu();
            (cpus_here(), is_useful(), rounds(40))
        })
        .join()
        .unwrap();
        assert_eq!(cpus, 1);
        assert!(!spins);
        assert_eq!(rounds, 0);
    }

    #[test]
    fn a_thread_pinned_later_stops_spinning_after_the_recheck() {
        std::thread::spawn(|| {
            let before = is_useful();
            assert_eq!(before, cpus_here() > 1);
            pin_this_thread_to_one_cpu();
            // Until the last look is RECHECK_EVERY old, the old answer
            // stands (without a system call)...
            let look = LAST.with(|last| last.get());
            let at = look.at.unwrap();
            assert_eq!(decide(look, at + RECHECK_EVERY / 2).may_spin, before);
            // ...and once it is, the pin is seen.
            assert!(!decide(look, at + RECHECK_EVERY).may_spin);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn is_useful_looks_again_within_64_calls_once_the_last_look_is_old() {
        std::thread::spawn(|| {
            let before = is_useful();
            pin_this_thread_to_one_cpu();
            // Make the last look old (as if RECHECK_EVERY had passed).
            LAST.with(|last| {
                let mut look = last.get();
                look.at = Some(look.at.unwrap() - RECHECK_EVERY);
                last.set(look);
            });
            let answers: Vec<bool> = (0..64).map(|_| is_useful()).collect();
            assert!(!answers[63], "the 64th call must have looked again");
            // Until then, the old answer.
            assert!(answers[..62].iter().all(|&a| a == before));
        })
        .join()
        .unwrap();
    }
}
