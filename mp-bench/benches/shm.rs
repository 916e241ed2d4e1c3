//! `shm/value_lock_increment`: `Value<u64>` += 1 under its lock, two
//! processes hammering the same value (time per increment), beside an
//! uncontended futex lock (the floor) and the same `Value` uncontended.
//! A fast two-process time may mean the lock changes hands quickly, or
//! that each process keeps it for long streaks: both processes count the
//! hand-offs they see (see `Handoffs`), written beside criterion's results
//! as `handoffs.json`.
//!
//! `shm/semaphore_pingpong`: a release/acquire round trip between two
//! processes (the hand-off that spinning before a futex sleep speeds up),
//! free and with both processes pinned to one CPU (where spinning would
//! only hold up the peer).
//!
//! `shm/create_attach_unlink_1MiB`: `SharedMemory` create + open + drop
//! both (unlink) of 1 MiB, beside raw shm_open + ftruncate + mmap + a
//! second shm_open + mmap + munmap x2 + unlink (the floor).
//!
//! `shm/copy_1MiB`: 1 MiB written then read back through
//! `SharedMemory::write_at`/`read_at` and `RawArray<u64>::write_from`/
//! `read_into` (race-free runs of atomic accesses), beside two plain
//! `copy_from_slice`s between private buffers (the floor).
//!
//! `shm/fill_256MiB_f64`: a 256 MiB `RawArray<f64>` filled by two
//! processes, each through a `Lease` of its half (leased, filled and
//! released every iteration), beside one process filling the whole array
//! through a plain `&mut [f64]` (the bandwidth floor). CPython's side,
//! numpy over `SharedMemory` the same way, is
//! `mp-bench/benches/compare/numpy_fill.py` (bench_report runs it after the
//! benches, for the lease row's CPython column).
//!
//! `shm/owner_death_takeover`: a process holds a `Lock` and is SIGKILLed
//! while a thread of the bench process sleeps waiting for it (its state
//! checked in `/proc`): the time from the kill to the waiter's `OwnerDied`.
#![allow(unsafe_code, reason = "the floors are raw mmap/munmap")]

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod pinning;
mod report_files;

use criterion::{Criterion, criterion_group};
use mp::process::{Process, StartMethod};
use mp::shm::{Event, Lock, RawArray, RawValue, Semaphore, SharedMemory, Value};
use pinning::{pin, unpin};

/// One process's count of the times the lock came to it from the other
/// process in a sample: under the lock it compares the value with what it
/// left last (at first, the value the sample started from), and a
/// difference means the other process held the lock in between. The two
/// processes' counts add up to the sample's changes of owner.
struct Handoffs {
    /// The value this process left after its last increment.
    left: u64,
    count: u64,
}

impl Handoffs {
    /// Counting from a sample that starts at `value`.
    fn from(value: u64) -> Handoffs {
        Handoffs {
            left: value,
            count: 0,
        }
    }

    /// `*value += 1`, noting whether the other process was there since.
    fn increment(&mut self, value: &mut u64) {
        if *value != self.left {
            self.count += 1;
        }
        *value += 1;
        self.left = *value;
    }
}

/// The child's side of `mp_value_2_processes`: on each `go`, `n`
/// increments of a value that starts the sample at `from`, adding the
/// hand-offs it saw to `handoffs`.
fn incrementer(
    v: Value<u64>,
    go: Semaphore,
    done: Semaphore,
    [n, from, handoffs]: [RawValue<u64>; 3],
) {
    loop {
        go.acquire().forget();
        let k = n.load();
        if k == u64::MAX {
            return;
        }
        let mut seen = Handoffs::from(from.load());
        for _ in 0..k {
            seen.increment(&mut v.lock().unwrap());
        }
        handoffs.store(handoffs.load() + seen.count);
        done.release().unwrap();
    }
}

/// The floor: a minimal futex mutex (Drepper's "mutex 2").
struct FutexLock(AtomicU32);

impl FutexLock {
    fn lock(&self) {
        if self
            .0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        while self.0.swap(2, Ordering::Acquire) != 0 {
            let _ = rustix::thread::futex::wait(
                &self.0,
                rustix::thread::futex::Flags::empty(),
                2,
                None,
            );
        }
    }

    fn unlock(&self) {
        if self.0.swap(0, Ordering::Release) == 2 {
            let _ = rustix::thread::futex::wake(&self.0, rustix::thread::futex::Flags::empty(), 1);
        }
    }
}

fn value_lock_increment(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/value_lock_increment");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));

    let lock = FutexLock(AtomicU32::new(0));
    let mut plain = 0u64;
    g.bench_function("futex_lock_uncontended_floor", |b| {
        b.iter(|| {
            lock.lock();
            plain = black_box(plain) + 1;
            lock.unlock();
        })
    });

    let v = Value::new(0u64).unwrap();
    g.bench_function("mp_value_uncontended", |b| {
        b.iter(|| *v.lock().unwrap() += 1)
    });

    let v = Value::new(0u64).unwrap();
    let go = Semaphore::new(0).unwrap();
    let done = Semaphore::new(0).unwrap();
    let n = RawValue::new(0u64).unwrap();
    let from = RawValue::new(0u64).unwrap();
    let theirs_seen = RawValue::new(0u64).unwrap();
    let mut child = Process::new(
        incrementer,
        (
            v.clone(),
            go.clone(),
            done.clone(),
            [n.clone(), from.clone(), theirs_seen.clone()],
        ),
    )
    .start_method(StartMethod::Fork);
    child.start().unwrap();
    let mut total = 0u64;
    let mut mine_seen = 0u64;
    g.bench_function("mp_value_2_processes", |b| {
        b.iter_custom(|iters| {
            let theirs = (iters / 2).max(1);
            let mine = iters.saturating_sub(theirs);
            // Every increment so far is in the value (the child is idle).
            from.store(total);
            let mut seen = Handoffs::from(total);
            total += theirs + mine;
            n.store(theirs);
            let start = Instant::now();
            go.release().unwrap();
            for _ in 0..mine {
                seen.increment(&mut v.lock().unwrap());
            }
            done.acquire().forget();
            let elapsed = start.elapsed();
            mine_seen += seen.count;
            elapsed
        })
    });
    n.store(u64::MAX);
    go.release().unwrap();
    child.join().unwrap();
    assert_eq!(v.value().unwrap(), total, "every increment counted");
    // Warm-up and samples alike: the share of hand-offs, not a count.
    let handoffs = mine_seen + theirs_seen.load();
    // None counted: a filter left the group out (no result to go with).
    if total > 0 {
        report_files::write(
            "shm/value_lock_increment/mp_value_2_processes/handoffs.json",
            &format!(
                "{{\"full_id\":\"shm/value_lock_increment/mp_value_2_processes/handoffs\",\
                 \"handoffs\":{handoffs},\"increments\":{total}}}\n"
            ),
        );
    }
    g.finish();
}

fn ponger(ping: Semaphore, pong: Semaphore, stop: RawValue<u32>) {
    loop {
        ping.acquire().forget();
        if stop.load() != 0 {
            return;
        }
        pong.release().unwrap();
    }
}

/// Round trip of a hand-off between two processes (where spinning before
/// the futex sleep matters most).
fn semaphore_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/semaphore_pingpong");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for one_cpu in [false, true] {
        let ping = Semaphore::new(0).unwrap();
        let pong = Semaphore::new(0).unwrap();
        let stop = RawValue::new(0u32).unwrap();
        let mut child = Process::new(ponger, (ping.clone(), pong.clone(), stop.clone()))
            .start_method(StartMethod::Fork);
        child.start().unwrap();
        let cpu = rustix::thread::sched_getcpu();
        let before = one_cpu.then(|| {
            pin(Some(child.pid().expect("a started child has a pid")), cpu);
            pin(None, cpu)
        });
        let name = if one_cpu {
            "mp_2_processes_one_cpu"
        } else {
            "mp_2_processes"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                ping.release().unwrap();
                pong.acquire().forget();
            })
        });
        if let Some(before) = before {
            unpin(&before);
        }
        stop.store(1);
        ping.release().unwrap();
        child.join().unwrap();
    }
    g.finish();
}

fn raw_create_attach_unlink(name: &str, size: usize) {
    use rustix::fs::Mode;
    use rustix::mm::{MapFlags, ProtFlags};
    use rustix::shm::OFlags;
    let fd = rustix::shm::open(
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
        Mode::RUSR | Mode::WUSR,
    )
    .unwrap();
    rustix::fs::ftruncate(&fd, size as u64).unwrap();
    // SAFETY: a fresh shared mapping, unmapped below, never dereferenced.
    let a = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            size,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            &fd,
            0,
        )
        .unwrap()
    };
    let fd2 = rustix::shm::open(name, OFlags::RDWR, Mode::empty()).unwrap();
    let len = rustix::fs::fstat(&fd2).unwrap().st_size as usize;
    // SAFETY: as above.
    let b = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            &fd2,
            0,
        )
        .unwrap()
    };
    // SAFETY: both ranges were mapped above with these lengths.
    unsafe {
        rustix::mm::munmap(b, len).unwrap();
        rustix::mm::munmap(a, size).unwrap();
    }
    rustix::shm::unlink(name).unwrap();
}

fn create_attach_unlink(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/create_attach_unlink_1MiB");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    const SIZE: usize = 1 << 20;
    let name = format!("/mpbench_{}", std::process::id());
    g.bench_function("shm_open_mmap_unlink_floor", |b| {
        b.iter(|| raw_create_attach_unlink(&name, SIZE))
    });
    // The tracker is started once per process, before the measurement.
    drop(SharedMemory::create(None, SIZE).unwrap());
    g.bench_function("mp_shared_memory", |b| {
        b.iter(|| {
            let shm = SharedMemory::create(None, SIZE).unwrap();
            let other = SharedMemory::open(shm.name()).unwrap();
            black_box(other.size());
            drop(other);
            drop(shm);
        })
    });
    g.finish();
}

fn copy_1mib(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/copy_1MiB");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    const SIZE: usize = 1 << 20;
    let src = vec![0x5au8; SIZE];
    let mut dst = vec![0u8; SIZE];
    let mut mid = vec![0u8; SIZE];
    g.bench_function("memcpy_floor", |b| {
        b.iter(|| {
            mid.copy_from_slice(black_box(&src));
            dst.copy_from_slice(black_box(&mid));
        })
    });
    let shm = SharedMemory::create(None, SIZE).unwrap();
    g.bench_function("mp_shared_memory_write_read", |b| {
        b.iter(|| {
            shm.write_at(0, black_box(&src)).unwrap();
            shm.read_at(0, black_box(&mut dst)).unwrap();
        })
    });
    let words = vec![0x5a5a_5a5a_5a5a_5a5au64; SIZE / 8];
    let mut back = vec![0u64; SIZE / 8];
    let raw = RawArray::<u64>::zeroed(SIZE / 8).unwrap();
    g.bench_function("mp_raw_array_u64_write_read", |b| {
        b.iter(|| {
            raw.write_from(0, black_box(&words)).unwrap();
            raw.read_into(0, black_box(&mut back)).unwrap();
        })
    });
    g.finish();
}

/// Elements of the 256 MiB array.
const FILL_LEN: usize = (256 << 20) / 8;

/// The child's side of `mp_lease_2_processes`: on each `go`, leases the
/// high half and fills it with `value`, until `value` is NaN.
fn fill_high_half(a: RawArray<f64>, go: Semaphore, done: Semaphore, value: RawValue<u64>) {
    loop {
        go.acquire().forget();
        let x = f64::from_bits(value.load());
        if x.is_nan() {
            return;
        }
        a.lease(FILL_LEN / 2..FILL_LEN).unwrap().fill(x);
        done.release().unwrap();
    }
}

fn fill_256mib(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/fill_256MiB_f64");
    // ~50 ms an iteration: few samples, short warm-up.
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let a = RawArray::<f64>::zeroed(FILL_LEN).unwrap();
    let mut x = 0.0;
    g.bench_function("one_process_floor", |b| {
        b.iter(|| {
            x += 1.0;
            // SAFETY: no other process or thread uses the array here, and
            // no lease of it lives.
            unsafe { a.as_mut_slice() }.fill(black_box(x));
        })
    });
    let go = Semaphore::new(0).unwrap();
    let done = Semaphore::new(0).unwrap();
    let value = RawValue::new(0u64).unwrap();
    let mut child = Process::new(
        fill_high_half,
        (a.clone(), go.clone(), done.clone(), value.clone()),
    )
    .start_method(StartMethod::Fork);
    child.start().unwrap();
    g.bench_function("mp_lease_2_processes", |b| {
        b.iter(|| {
            x += 1.0;
            value.store(x.to_bits());
            go.release().unwrap();
            a.lease(0..FILL_LEN / 2).unwrap().fill(black_box(x));
            done.acquire().forget();
        })
    });
    value.store(f64::NAN.to_bits());
    go.release().unwrap();
    child.join().unwrap();
    assert_eq!(
        a.load(FILL_LEN - 1).unwrap(),
        x,
        "the child filled its half"
    );
    g.finish();
}

fn hold_until_killed(lock: Lock, held: Event) {
    let _guard = lock.acquire().unwrap();
    held.set();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Whether thread `tid` of this process sleeps in a futex wait.
fn asleep_on_a_futex(tid: u32) -> bool {
    let task = format!("/proc/self/task/{tid}");
    let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    let wchan = std::fs::read_to_string(format!("{task}/wchan")).unwrap_or_default();
    state == "S" && (wchan.contains("futex") || wchan == "0")
}

/// One death: the time from the holder's SIGKILL to the waiter's OwnerDied.
fn one_takeover() -> Duration {
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    // Forkserver: the bench process has threads (the waiter, and the death
    // watcher of the previous round).
    let mut holder = Process::new(hold_until_killed, (lock.clone(), held.clone()))
        .start_method(StartMethod::Forkserver);
    holder.start().unwrap();
    assert!(
        held.wait_timeout(Duration::from_secs(30)),
        "the holder never took the lock"
    );
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
            .unwrap();
        let died = lock.acquire();
        let at = Instant::now();
        match died {
            Err(died) => died.into_inner().mark_consistent(),
            Ok(_) => panic!("the lock looked free although its holder held it"),
        }
        at
    });
    let tid = tid_rx.recv().unwrap();
    while !asleep_on_a_futex(tid) {
        std::thread::yield_now();
    }
    let killed = Instant::now();
    holder.kill().unwrap();
    let taken = waiter.join().unwrap();
    holder.join().unwrap();
    taken.saturating_duration_since(killed)
}

fn owner_death_takeover(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/owner_death_takeover");
    // Each death costs a fork and a kill besides the measured time.
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(300));
    g.bench_function("mp_lock_holder_sigkilled", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| one_takeover()).sum())
    });
    g.finish();
}

criterion_group!(
    benches,
    value_lock_increment,
    semaphore_pingpong,
    create_attach_unlink,
    copy_1mib,
    fill_256mib,
    owner_death_takeover
);

fn main() {
    report_files::main(benches);
}
