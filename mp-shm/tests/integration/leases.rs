//! Leases across real processes: disjoint ranges granted at once,
//! overlapping ones refused or waited for, copies and the array's lock kept
//! off leased bytes, a SIGKILLed holder's range freed; and `Array('c', n)`'s
//! `value`/`raw`.

use std::time::{Duration, Instant};

use mp_process::{Process, StartMethod};
use mp_shm::{Array, ErrorKind, Event, Item, RawArray, ShareableList, SharedMemory};
use mp_testkit::deadline;

use crate::{LONG, join, shm_name, started};

const N: usize = 1 << 12;

/// The kind of the error `r` must be.
fn kind<T>(r: mp_shm::Result<T>) -> ErrorKind {
    r.map(|_| ()).unwrap_err().kind()
}

fn fill_high_raw(a: RawArray<f64>) {
    // Granted at once although the parent leases the low half.
    a.try_lease(N / 2..N).unwrap().fill(2.0);
}

fn fill_high_array(a: Array<f64>) {
    a.try_lease(N / 2..N).unwrap().fill(2.0);
}

fn fill_high_by_name(name: String) {
    let shm = SharedMemory::open(&name).unwrap();
    shm.try_lease::<f64>(N / 2 * 8, N / 2).unwrap().fill(2.0);
}

fn halves(v: &[f64]) -> bool {
    v[..N / 2].iter().all(|x| *x == 1.0) && v[N / 2..].iter().all(|x| *x == 2.0)
}

#[test]
fn disjoint_leases_are_granted_to_two_processes_at_once() {
    let _d = deadline(LONG);
    for m in StartMethod::ALL {
        let raw = RawArray::<f64>::zeroed(N).unwrap();
        let mut low = raw.lease(0..N / 2).unwrap();
        let p = started(Process::new(fill_high_raw, (raw.clone(),)), m);
        low.fill(1.0);
        assert_eq!(join(&p), 0, "{m}");
        drop(low);
        assert!(halves(&raw.to_vec().unwrap()), "{m}");

        let array = Array::<f64>::zeroed(N).unwrap();
        let mut low = array.lease(0..N / 2).unwrap();
        let p = started(Process::new(fill_high_array, (array.clone(),)), m);
        low.fill(1.0);
        assert_eq!(join(&p), 0, "{m}");
        drop(low);
        assert!(halves(&array.lock().unwrap()), "{m}");

        // By name: the child maps the segment at another address.
        let shm = SharedMemory::create(None, N * 8).unwrap();
        let mut low = shm.lease::<f64>(0, N / 2).unwrap();
        let p = started(Process::new(fill_high_by_name, (shm.name().to_owned(),)), m);
        low.fill(1.0);
        assert_eq!(join(&p), 0, "{m}");
        drop(low);
        let bytes = shm.to_vec().unwrap();
        let floats: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        assert!(halves(&floats), "{m}");
    }
}

fn hold_raw(a: RawArray<u32>, held: Event, release: Event) {
    let mut lease = a.lease(0..10).unwrap();
    lease.fill(7);
    held.set();
    assert!(release.wait_timeout(LONG));
}

#[test]
fn an_overlapping_lease_or_copy_is_refused_while_another_process_holds_the_range() {
    let _d = deadline(LONG);
    let a = RawArray::<u32>::zeroed(100).unwrap();
    let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
    let p = started(
        Process::new(hold_raw, (a.clone(), held.clone(), release.clone())),
        StartMethod::Forkserver,
    );
    assert!(held.wait_timeout(LONG));
    assert_eq!(kind(a.try_lease(5..15)), ErrorKind::Leased);
    let t = Instant::now();
    assert_eq!(
        kind(a.lease_timeout(9..10, Duration::from_millis(100))),
        ErrorKind::Leased
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    // Every copy of a leased element is refused; the rest go ahead.
    assert_eq!(kind(a.load(5)), ErrorKind::Leased);
    assert_eq!(kind(a.store(9, 1)), ErrorKind::Leased);
    assert_eq!(kind(a.read_into(8, &mut [0; 4])), ErrorKind::Leased);
    assert_eq!(kind(a.write_from(0, &[1])), ErrorKind::Leased);
    assert_eq!(kind(a.to_vec()), ErrorKind::Leased);
    a.write_from(10, &[3; 5]).unwrap();
    assert_eq!(a.load(10).unwrap(), 3);
    a.try_lease(10..20).unwrap().fill(4);
    // A waiting lease gets the range when the holder ends its lease.
    let waiter = {
        let a = a.clone();
        std::thread::spawn(move || a.lease_timeout(0..10, LONG).map(|l| l.to_vec()))
    };
    release.set();
    assert_eq!(waiter.join().unwrap().unwrap(), [7; 10]);
    assert_eq!(join(&p), 0);
    assert_eq!(a.load(0).unwrap(), 7);
    // 64 leases at once; a 65th is refused (and the table is whole again
    // once they end).
    let many: Vec<_> = (0..64).map(|i| a.try_lease(i..i + 1).unwrap()).collect();
    assert_eq!(kind(a.try_lease(64..65)), ErrorKind::TooManyLeases);
    drop(many);
    assert_eq!(a.try_lease(0..100).unwrap().len(), 100);
    assert_eq!(kind(a.try_lease(90..101)), ErrorKind::OutOfRange);
}

fn hold_until_killed(a: RawArray<u32>, shm: SharedMemory, arr: Array<u8>, held: Event) {
    let _raw = a.lease(0..50).unwrap();
    let _bytes = shm.lease::<u8>(0, 64).unwrap();
    let _arr = arr.lease(0..4).unwrap();
    held.set();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn the_range_of_a_sigkilled_holder_becomes_leasable_again() {
    let _d = deadline(LONG);
    for m in StartMethod::ALL {
        let a = RawArray::<u32>::zeroed(100).unwrap();
        let shm = SharedMemory::create(None, 4096).unwrap();
        let arr = Array::<u8>::zeroed(8).unwrap();
        let held = Event::new().unwrap();
        let p = started(
            Process::new(
                hold_until_killed,
                (a.clone(), shm.clone(), arr.clone(), held.clone()),
            ),
            m,
        );
        assert!(held.wait_timeout(LONG), "{m}");
        assert_eq!(a.try_lease(0..1).unwrap_err().kind(), ErrorKind::Leased);
        assert_eq!(
            shm.try_lease::<u8>(63, 1).unwrap_err().kind(),
            ErrorKind::Leased
        );
        assert_eq!(arr.try_lease(3..4).unwrap_err().kind(), ErrorKind::Leased);
        // A waiter asleep on the range is woken by the death.
        let waiter = {
            let a = a.clone();
            std::thread::spawn(move || a.lease_timeout(10..20, LONG).map(|l| l.len()))
        };
        p.kill().unwrap();
        assert_eq!(join(&p), -9, "{m}");
        assert_eq!(waiter.join().unwrap().unwrap(), 10, "{m}");
        a.try_lease(0..100).unwrap().fill(1);
        shm.try_lease::<u8>(0, 4096).unwrap().fill(1);
        arr.try_lease(0..8).unwrap().fill(1);
        // Copies and the whole-array lock go ahead again.
        assert_eq!(a.load(0).unwrap(), 1);
        assert_eq!(arr.lock_timeout(LONG).unwrap().raw(), [1; 8]);
    }
}

fn hold_array(a: Array<i64>, held: Event, release: Event) {
    a.lease(0..4).unwrap().fill(-1);
    let _lease = a.lease(0..4).unwrap();
    held.set();
    assert!(release.wait_timeout(LONG));
}

fn try_lease_locked(a: Array<i64>) {
    let refused = |r: mp_shm::Result<mp_shm::Lease<'_, i64>>| r.unwrap_err().kind();
    assert_eq!(refused(a.try_lease(0..1)), ErrorKind::Leased);
    assert_eq!(
        refused(a.lease_timeout(7..8, Duration::from_millis(50))),
        ErrorKind::Leased
    );
}

#[test]
fn an_arrays_lock_and_its_leases_exclude_each_other() {
    let _d = deadline(LONG);
    let a = Array::<i64>::zeroed(8).unwrap();
    let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
    let p = started(
        Process::new(hold_array, (a.clone(), held.clone(), release.clone())),
        StartMethod::Spawn,
    );
    assert!(held.wait_timeout(LONG));
    assert!(matches!(a.try_lock(), Err(mp_shm::AcquireError::Timeout)));
    assert!(matches!(
        a.lock_timeout(Duration::from_millis(100)),
        Err(mp_shm::AcquireError::Timeout)
    ));
    assert_eq!(a.get(1).unwrap_err().kind(), ErrorKind::Leased);
    assert_eq!(a.set(3, 9).unwrap_err().kind(), ErrorKind::Leased);
    assert_eq!(a.to_vec().unwrap_err().kind(), ErrorKind::Leased);
    {
        let g = a.get_lock().acquire().unwrap();
        assert_eq!(a.get_with(&g, 0).unwrap_err().kind(), ErrorKind::Leased);
        a.set_with(&g, 4, 4).unwrap();
    }
    a.set(5, 5).unwrap();
    assert_eq!(a.get(5).unwrap(), 5);
    // The whole-array lock waits for the lease to end.
    let locker = {
        let a = a.clone();
        std::thread::spawn(move || a.lock().unwrap().to_vec())
    };
    release.set();
    assert_eq!(locker.join().unwrap(), [-1, -1, -1, -1, 4, 5, 0, 0]);
    assert_eq!(join(&p), 0);
    // And a lease waits for (or is refused under) a held lock.
    let guard = a.lock().unwrap();
    let p = started(
        Process::new(try_lease_locked, (a.clone(),)),
        StartMethod::Forkserver,
    );
    assert_eq!(join(&p), 0);
    drop(guard);
    assert_eq!(a.try_lease(0..8).unwrap().len(), 8);
}

fn hold_first_word(name: String, held: Event, release: Event) {
    let shm = SharedMemory::open(&name).unwrap();
    let mut lease = shm.lease::<u8>(0, 4).unwrap();
    lease.copy_from_slice(b"abcd");
    held.set();
    assert!(release.wait_timeout(LONG));
}

#[test]
fn shared_memory_leases_hold_across_mappings_down_to_the_word() {
    let _d = deadline(LONG);
    let name = shm_name("lease_words");
    let shm = SharedMemory::create(name.as_str(), 64).unwrap();
    // The lease table follows the user's pages in the file (two pages).
    let on_disk = std::fs::metadata(format!("/dev/shm/{name}")).unwrap().len();
    assert_eq!(on_disk as usize, shm.real_size() + 2 * 4096);
    let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
    let p = started(
        Process::new(
            hold_first_word,
            (name.clone(), held.clone(), release.clone()),
        ),
        StartMethod::Spawn,
    );
    assert!(held.wait_timeout(LONG));
    // A copy shares the word of bytes 0..8 with the lease of 0..4.
    assert_eq!(
        shm.write_at(4, b"efgh").unwrap_err().kind(),
        ErrorKind::Leased
    );
    assert_eq!(
        shm.read_at(7, &mut [0]).unwrap_err().kind(),
        ErrorKind::Leased
    );
    shm.write_at(8, b"ijkl").unwrap();
    // Bytes 4..8 can be leased: they are other bytes than the child's.
    shm.try_lease::<u8>(4, 4).unwrap().copy_from_slice(b"EFGH");
    assert_eq!(
        shm.try_lease::<u16>(2, 2).unwrap_err().kind(),
        ErrorKind::Leased
    );
    release.set();
    assert_eq!(join(&p), 0);
    let mut all = [0; 12];
    shm.read_at(0, &mut all).unwrap();
    assert_eq!(&all, b"abcdEFGHijkl");
    // Alignment, bounds, and segments that cannot be leased.
    assert_eq!(
        shm.try_lease::<f64>(4, 1).unwrap_err().kind(),
        ErrorKind::Misaligned
    );
    assert_eq!(
        shm.try_lease::<f64>(0, 9).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    assert_eq!(shm.try_lease::<f64>(8, 7).unwrap().len(), 7);
    let list = ShareableList::create(None, [Item::Int(1)]).unwrap();
    let under = SharedMemory::open(list.name()).unwrap();
    assert_eq!(
        under.try_lease::<u8>(0, 1).unwrap_err().kind(),
        ErrorKind::NotLeasable
    );
    let foreign = shm_name("foreign");
    let fd = rustix::shm::open(
        format!("/{foreign}").as_str(),
        rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
    rustix::fs::ftruncate(&fd, 3 * 4096).unwrap();
    let theirs = SharedMemory::open(&foreign).unwrap();
    assert_eq!(theirs.size(), 3 * 4096, "all of a foreign segment is data");
    assert_eq!(
        theirs.try_lease::<u8>(0, 1).unwrap_err().kind(),
        ErrorKind::NotLeasable
    );
    theirs.write_at(3 * 4096 - 1, &[1]).unwrap();
    theirs.unlink().unwrap();
}

fn set_c_string(a: Array<u8>, value: Vec<u8>, raw: bool) {
    if raw {
        a.set_raw(&value).unwrap();
    } else {
        a.set_value(&value).unwrap();
    }
}

#[test]
fn a_char_arrays_value_and_raw_cross_processes() {
    let _d = deadline(LONG);
    let a = Array::<u8>::from_slice(b"xxxxxxxx").unwrap();
    let set = |value: &[u8], raw: bool| {
        let p = started(
            Process::new(set_c_string, (a.clone(), value.to_vec(), raw)),
            StartMethod::Spawn,
        );
        assert_eq!(join(&p), 0);
    };
    set(b"abc", false);
    assert_eq!(a.value().unwrap(), b"abc");
    assert_eq!(a.raw().unwrap(), b"abc\0xxxx");
    set(b"AB", true);
    assert_eq!(a.raw().unwrap(), b"ABc\0xxxx");
    assert_eq!(a.value().unwrap(), b"ABc");
    // Exactly the length: no room for a NUL, none written.
    set(b"12345678", false);
    assert_eq!(a.value().unwrap(), b"12345678");
    for raw in [false, true] {
        let err = if raw {
            a.set_raw(b"123456789")
        } else {
            a.set_value(b"123456789")
        };
        assert_eq!(err.unwrap_err().kind(), ErrorKind::TooLong);
    }
    assert_eq!(a.raw().unwrap(), b"12345678", "nothing changed");
    // Under a held lock (the timeout form): views, no copies.
    let mut g = a.lock_timeout(LONG).unwrap();
    g.set_value(b"hi").unwrap();
    assert_eq!(g.value(), b"hi");
    assert_eq!(g.raw(), b"hi\x0045678");
    assert_eq!(g.set_raw(&[0; 9]).unwrap_err().kind(), ErrorKind::TooLong);
    drop(g);
    // A leased byte refuses the copies that would touch it.
    let _lease = a.lease(5..6).unwrap();
    assert_eq!(a.value().unwrap_err().kind(), ErrorKind::Leased);
    assert_eq!(a.set_value(b"12345").unwrap_err().kind(), ErrorKind::Leased);
    a.set_value(b"1234").unwrap();
    a.set_raw(b"12345").unwrap();
}

#[cfg(feature = "ndarray")]
fn fill_rows(a: RawArray<f64>, rows: std::ops::Range<usize>) {
    let mut lease = a.lease(rows.start * 4..rows.end * 4).unwrap();
    let mut grid = lease.view_mut_shape(&[rows.len(), 4]).unwrap();
    for ((r, c), x) in grid
        .view_mut()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter_mut()
    {
        *x = ((rows.start + r) * 10 + c) as f64;
    }
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_views_over_leases_fill_a_grid_from_two_processes() {
    let _d = deadline(LONG);
    let a = RawArray::<f64>::zeroed(8 * 4).unwrap();
    let ps: Vec<_> = [0..4, 4..8]
        .into_iter()
        .map(|rows| {
            started(
                Process::new(fill_rows, (a.clone(), rows)),
                StartMethod::Forkserver,
            )
        })
        .collect();
    for p in &ps {
        assert_eq!(join(p), 0);
    }
    let lease = a.lease(0..32).unwrap();
    let grid = lease.view_shape(&[8, 4]).unwrap();
    assert_eq!(grid[[7, 3]], 73.0);
    let expected: f64 = (0..8)
        .flat_map(|r| (0..4).map(move |c| (r * 10 + c) as f64))
        .sum();
    assert_eq!(lease.view().sum(), expected);
    assert_eq!(
        lease.view_shape(&[5, 5]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}
