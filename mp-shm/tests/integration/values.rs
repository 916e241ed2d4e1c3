#![allow(
    unsafe_code,
    reason = "exercises the unsafe accessors and the Shareable contract"
)]

use std::time::Duration;

use mp_process::{Process, StartMethod};
use mp_shm::{Array, ErrorKind, Lock, RawArray, RawValue, Shareable, Value};
use mp_testkit::deadline;

use crate::{LONG, join, started};

fn add_thousand(v: Value<i64>) {
    for _ in 0..1000 {
        *v.lock().unwrap() += 1;
    }
}

#[test]
fn four_processes_thousand_locked_increments_total_exactly_4000() {
    let _d = deadline(LONG);
    let v = Value::new(0i64).unwrap();
    let methods = [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ];
    let ps: Vec<Process> = methods
        .iter()
        .map(|m| started(Process::new(add_thousand, (v.clone(),)), *m))
        .collect();
    for p in &ps {
        assert_eq!(join(p), 0);
    }
    assert_eq!(v.value().unwrap(), 4000);
}

fn negate_all(a: Array<f64>) {
    for x in a.lock().unwrap().iter_mut() {
        *x = -*x;
    }
    a.set(0, 42.0).unwrap();
}

#[test]
fn a_childs_writes_to_an_array_are_seen_by_the_parent() {
    let _d = deadline(LONG);
    for m in StartMethod::ALL {
        let a = Array::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let p = started(Process::new(negate_all, (a.clone(),)), m);
        assert_eq!(join(&p), 0, "{m}");
        assert_eq!(a.to_vec().unwrap(), [42.0, -2.0, -3.0, -4.0], "{m}");
        assert_eq!(a.get(4).unwrap_err().kind(), ErrorKind::OutOfRange);
    }
}

fn rewrite_bytes(a: Array<u8>, expect: Vec<u8>) {
    assert_eq!(a.to_vec().unwrap(), expect);
    a.lock().unwrap().copy_from_slice(b"\0\0child\0\0\xff");
}

#[test]
fn byte_arrays_keep_exact_bytes_including_nuls() {
    let _d = deadline(LONG);
    let bytes = b"he\0llo\0\0\0\0".to_vec();
    let a = Array::<u8>::from_slice(&bytes).unwrap();
    assert_eq!(a.len(), 10);
    let p = started(
        Process::new(rewrite_bytes, (a.clone(), bytes)),
        StartMethod::Spawn,
    );
    assert_eq!(join(&p), 0);
    assert_eq!(a.to_vec().unwrap(), b"\0\0child\0\0\xff");
    let zeroed = Array::<u8>::zeroed(3).unwrap();
    assert_eq!(zeroed.to_vec().unwrap(), [0, 0, 0]);
}

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
    tag: [u8; 8],
}

// SAFETY: repr(C), floats and bytes, no padding, no pointers.
unsafe impl Shareable for Point {}

fn move_point(p: Value<Point>) {
    let mut g = p.lock().unwrap();
    g.x += 1.0;
    g.y *= 2.0;
    g.tag = *b"moved\0\0\0";
}

#[test]
fn repr_c_structs_are_shared_values() {
    let _d = deadline(LONG);
    let v = Value::new(Point {
        x: 1.0,
        y: 2.0,
        tag: [0; 8],
    })
    .unwrap();
    let p = started(
        Process::new(move_point, (v.clone(),)),
        StartMethod::Forkserver,
    );
    assert_eq!(join(&p), 0);
    assert_eq!(
        v.value().unwrap(),
        Point {
            x: 2.0,
            y: 4.0,
            tag: *b"moved\0\0\0"
        }
    );
}

fn bump_both(a: Value<u32>, b: Value<u32>) {
    let guard = a.get_lock().acquire().unwrap();
    let x = a.get_with(&guard).unwrap();
    let y = b.get_with(&guard).unwrap();
    a.set_with(&guard, x + 1).unwrap();
    b.set_with(&guard, y + 10).unwrap();
}

#[test]
fn values_can_share_one_lock() {
    let _d = deadline(LONG);
    let lock = Lock::new().unwrap();
    let a = Value::with_lock(1u32, lock.clone()).unwrap();
    let b = Value::with_lock(2u32, lock.clone()).unwrap();
    assert!(a.get_lock().same_as(&lock) && b.get_lock().same_as(&lock));
    let p = started(
        Process::new(bump_both, (a.clone(), b.clone())),
        StartMethod::Spawn,
    );
    assert_eq!(join(&p), 0);
    assert_eq!((a.value().unwrap(), b.value().unwrap()), (2, 12));
    // The shared lock really is one lock.
    let held = a.lock().unwrap();
    assert!(b.try_lock().is_err());
    assert!(lock.try_acquire().is_err());
    drop(held);
    // A guard of another lock does not open a value.
    let other = Lock::new().unwrap();
    let g = other.acquire().unwrap();
    assert_eq!(a.get_with(&g).unwrap_err().kind(), ErrorKind::LockNotHeld);
}

#[test]
fn a_value_guard_cannot_be_released_by_anyone_else() {
    let _d = deadline(LONG);
    let v = Value::new(5u8).unwrap();
    let mut g = v.lock().unwrap();
    assert_eq!(
        v.get_lock().release().unwrap_err().kind(),
        ErrorKind::HeldByGuard
    );
    *g = 6;
    drop(g);
    assert_eq!(
        v.get_lock().release().unwrap_err().kind(),
        ErrorKind::NotLocked
    );
    assert_eq!(v.value().unwrap(), 6);
    assert!(matches!(
        v.lock_timeout(Duration::from_millis(10)),
        Ok(g) if *g == 6
    ));
}

fn raw_writer(v: RawValue<u64>, a: RawArray<u16>) {
    v.store(0xdead_beef_0000_0001);
    a.store(2, 7).unwrap();
    a.write_from(3, &[8, 9]).unwrap();
    assert!(a.store(5, 1).is_err());
}

#[test]
fn raw_values_and_arrays_are_shared_without_a_lock() {
    let _d = deadline(LONG);
    for m in [StartMethod::Fork, StartMethod::Spawn] {
        let v = RawValue::new(1u64).unwrap();
        let a = RawArray::<u16>::zeroed(5).unwrap();
        let p = started(Process::new(raw_writer, (v.clone(), a.clone())), m);
        assert_eq!(join(&p), 0);
        assert_eq!(v.load(), 0xdead_beef_0000_0001);
        assert_eq!(a.to_vec(), [0, 0, 7, 8, 9]);
        let mut two = [0u16; 2];
        a.read_into(3, &mut two).unwrap();
        assert_eq!(two, [8, 9]);
        assert_eq!(
            a.read_into(4, &mut two).unwrap_err().kind(),
            ErrorKind::OutOfRange
        );
        assert_eq!(a.load(5).unwrap_err().kind(), ErrorKind::OutOfRange);
        // SAFETY: no other process touches the array any more.
        assert_eq!(unsafe { a.as_slice() }, [0, 0, 7, 8, 9]);
        let big = RawValue::new([1u32; 5]).unwrap();
        // SAFETY: this test is the only user of `big`.
        unsafe { big.write([2; 5]) };
        // SAFETY: as above.
        assert_eq!(unsafe { big.read() }, [2; 5]);
    }
}

#[test]
fn a_handle_decoded_as_another_type_is_an_error() {
    let _d = deadline(LONG);
    let v = Value::new(7u32).unwrap();
    let (bytes, fds) = mp_handle::encode(&v).unwrap();
    assert!(
        mp_handle::decode::<Value<u64>>(&bytes, fds).is_err(),
        "other size"
    );

    let (bytes, fds) = mp_handle::encode(&v).unwrap();
    assert!(
        mp_handle::decode::<Value<i32>>(&bytes, fds).is_err(),
        "same size, other type"
    );
    let (bytes, fds) = mp_handle::encode(&v).unwrap();
    assert!(
        mp_handle::decode::<Array<u32>>(&bytes, fds).is_err(),
        "value as array"
    );
    let (bytes, fds) = mp_handle::encode(&v).unwrap();
    assert!(
        mp_handle::decode::<RawValue<u32>>(&bytes, fds).is_err(),
        "value as raw"
    );
    let (bytes, fds) = mp_handle::encode(&v.get_lock().clone()).unwrap();
    assert!(
        mp_handle::decode::<mp_shm::RLock>(&bytes, fds).is_err(),
        "lock as rlock"
    );
    let (bytes, fds) = mp_handle::encode(&mp_shm::Event::new().unwrap()).unwrap();
    assert!(
        mp_handle::decode::<mp_shm::Semaphore>(&bytes, fds).is_err(),
        "event as semaphore"
    );

    let (bytes, fds) = mp_handle::encode(&v).unwrap();
    let same: Value<u32> = mp_handle::decode(&bytes, fds).unwrap();
    same.set_value(8).unwrap();
    assert_eq!(v.value().unwrap(), 8);
    assert!(same.get_lock().same_as(v.get_lock()));
}

fn rewrite_until_stopped(a: RawArray<u64>, shm: mp_shm::SharedMemory, stop: RawValue<u32>) {
    let patterns = [[0x1111_1111_1111_1111u64; 512], [u64::MAX; 512]];
    let bytes = [[0x5au8; 4096 + 13], [0xa5u8; 4096 + 13]];
    let mut k = 0;
    while stop.load() == 0 {
        a.write_from(0, &patterns[k % 2]).unwrap();
        shm.write_at(3, &bytes[k % 2]).unwrap();
        k += 1;
    }
}

/// Bulk copies of raw data race with a writer (a thread here, so that
/// ThreadSanitizer sees both sides; another process is the same to the
/// memory model) without undefined behaviour: they are runs of atomic
/// accesses, where a plain memcpy is a data race. They never tear an
/// element, and a byte copy keeps the bytes next to its range.
#[test]
fn bulk_copies_race_with_a_writer_without_tearing_elements() {
    let _d = deadline(LONG);
    let a = RawArray::<u64>::zeroed(512).unwrap();
    let shm = mp_shm::SharedMemory::create(None, 4096 + 32).unwrap();
    let stop = RawValue::new(0u32).unwrap();
    let writer = {
        let (a, shm, stop) = (a.clone(), shm.clone(), stop.clone());
        std::thread::spawn(move || rewrite_until_stopped(a, shm, stop))
    };
    let mut buf = [0u64; 512];
    let mut bytes = vec![0u8; 4096 + 13];
    let patterns = [0, 0x1111_1111_1111_1111, u64::MAX];
    for _ in 0..2000 {
        for x in a.to_vec() {
            assert!(patterns.contains(&x), "{x:#x}");
        }
        a.read_into(0, &mut buf).unwrap();
        assert!(buf.iter().all(|x| patterns.contains(x)));
        shm.read_at(3, &mut bytes).unwrap();
        assert!(bytes.iter().all(|b| [0, 0x5a, 0xa5].contains(b)));
    }
    stop.store(1);
    writer.join().unwrap();
    let mut edges = [0u8; 3];
    shm.read_at(0, &mut edges).unwrap();
    assert_eq!(edges, [0; 3], "bytes before the written range are kept");
    shm.read_at(4096 + 16, &mut edges).unwrap();
    assert_eq!(edges, [0; 3], "bytes after the written range are kept");
}

/// The descriptor a handle hands out (`mp_handle::encode` is safe and
/// public) cannot change the bytes under a live guard: it is read-only, so
/// `pwrite`, `ftruncate` and `fallocate` fail; a receiving process still
/// maps the value writable.
#[test]
fn a_handles_descriptor_cannot_write_the_shared_bytes() {
    let _d = deadline(LONG);
    let v = Value::new(5u8).unwrap();
    let guard = v.lock().unwrap();
    let (bytes, fds) = mp_handle::encode(&v).unwrap();
    for fd in &fds {
        assert!(rustix::io::pwrite(fd, &[0xff; 4096], 0).is_err());
        assert!(rustix::fs::ftruncate(fd, 0).is_err());
        assert!(
            rustix::fs::fallocate(
                fd,
                rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
                0,
                4096
            )
            .is_err()
        );
    }
    assert_eq!(*guard, 5, "nothing changed under the guard");
    drop(guard);
    let same: Value<u8> = mp_handle::decode(&bytes, fds).unwrap();
    same.set_value(6).unwrap();
    assert_eq!(v.value().unwrap(), 6);
    // A child that receives it can write it (it reopens the memfd writable).
    let p = started(Process::new(add_one, (v.clone(),)), StartMethod::Spawn);
    assert_eq!(join(&p), 0);
    assert_eq!(v.value().unwrap(), 7);
}

fn add_one(v: Value<u8>) {
    *v.lock().unwrap() += 1;
}
