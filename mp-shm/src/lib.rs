//! Shared memory and process-shared locks: Python's `multiprocessing`
//! `Value`, `Array`, `shared_memory`, and synchronization primitives.
//!
//! | Python | mp-shm |
//! |---|---|
//! | `Value('i', 0)`, `v.value`, `with v.get_lock(): v.value += 1` | [`Value::new(0i32)`](Value::new), [`value`](Value::value)/[`set_value`](Value::set_value), `*v.lock()? += 1` |
//! | `Array('d', 10)`, `Array('i', [1, 2])`, `Array('c', n)` | [`Array::zeroed(10)`](Array::zeroed), [`Array::from_slice`], `Array<u8>` |
//! | `a.value`, `a.value = b"abc"`, `a.raw`, `a.raw = b"ab"` (`Array('c', n)`) | [`a.value()`](Array::value), [`a.set_value(b"abc")`](Array::set_value), [`a.raw()`](Array::raw), [`a.set_raw(b"ab")`](Array::set_raw); views under a guard: [`ArrayGuard::value`] |
//! | `Value(.., lock=lock)`, `v.get_lock()` | [`Value::with_lock`], [`Value::get_lock`] |
//! | `RawValue`, `RawArray` | [`RawValue`], [`RawArray`] (atomic `load`/`store`) |
//! | ctypes `Structure` | a `#[repr(C)]` struct with `unsafe impl` [`Shareable`] |
//! | `shared_memory.SharedMemory(name, create=True, size=n)` | [`SharedMemory::create(name, n)`](SharedMemory::create) |
//! | `SharedMemory(name)`, `shm.buf`, `close()`, `unlink()` | [`SharedMemory::open`], [`read_at`](SharedMemory::read_at)/[`write_at`](SharedMemory::write_at), [`close`](SharedMemory::close), [`unlink`](SharedMemory::unlink) |
//! | `np.ndarray((n,), np.float64, buffer=shm.buf)[lo:hi] = x` in each worker | [`shm.lease::<f64>(lo * 8, hi - lo)?.fill(x)`](SharedMemory::lease); [`RawArray::lease(lo..hi)`](RawArray::lease), [`Array::lease`]; `ndarray` views with the `ndarray` feature |
//! | `shared_memory.ShareableList([1, 'a'])` | [`ShareableList::create(None, [..])`](ShareableList::create) of [`Item`]s |
//! | `Lock()`, `acquire(timeout=t)`, `acquire(False)`, `release()` | [`Lock`]: [`acquire`](Lock::acquire) (a guard), [`acquire_timeout`](Lock::acquire_timeout), [`try_acquire`](Lock::try_acquire), [`release`](Lock::release) |
//! | `RLock()` | [`RLock`] |
//! | `Semaphore(n)`, `BoundedSemaphore(n)`, `get_value()` | [`Semaphore`], [`BoundedSemaphore`], [`get_value`](Semaphore::get_value) |
//! | `Condition(lock)`, `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`] |
//! | `Event()`, `set`, `clear`, `is_set`, `wait(timeout)` | [`Event`] |
//! | `Barrier(parties, action, timeout)`, `wait`, `abort`, `reset`, `broken` | [`Barrier`] |
//! | `FileExistsError`, `ValueError`, `BrokenBarrierError`, ... | [`Error`] with an [`ErrorKind`] |
//!
//! Every object lives in shared memory — anonymous memfd segments for
//! values and locks (nothing in `/dev/shm`, so nothing can leak), named
//! segments for [`SharedMemory`] — and is given to a child process by
//! passing a clone as an argument (`Process::new(f, (v.clone(),))`), under
//! every start method. Receiving a handle of the wrong type is an error,
//! not undefined behaviour.
//!
//! # Leases: zero-copy, lock-free ranges
//!
//! A process [`lease`](RawArray::lease)s a range of an [`Array`],
//! [`RawArray`] or [`SharedMemory`] and gets a [`Lease`] that derefs to
//! `&mut [T]`: each worker fills its own slice of a large array, with no
//! lock and no copy. The rules that make the `&mut [T]` sound:
//!
//! - An overlapping lease, from any process and through any handle (a
//!   clone, a handle received by a child, a segment opened by name and
//!   mapped at another address), is refused ([`ErrorKind::Leased`]) or
//!   waited for (`lease`, `lease_timeout`; `try_lease` refuses at once).
//! - Every other safe access to leased bytes is refused with
//!   [`ErrorKind::Leased`]: `RawArray` element and bulk copies,
//!   `SharedMemory` copies (which touch whole 8-byte words: a copy that
//!   shares a word with a lease is refused), an `Array`'s `get`/`set`/
//!   `to_vec`. An `Array`'s whole-array [`lock`](Array::lock) waits until
//!   no lease lives, and a lease of an `Array` is granted only while its
//!   lock is free.
//! - A lease ends when dropped, or when its process dies (even by
//!   SIGKILL): the next process that needs the range frees it, as a dead
//!   lock holder's lock is taken over (holders are judged by pid, start
//!   time and pid namespace).
//! - `T` is plain data ([`Shareable`]); a `SharedMemory` lease at an
//!   offset that is not a multiple of `T`'s alignment is
//!   [`ErrorKind::Misaligned`].
//! - A `ShareableList`'s segment and segments made by other programs (no
//!   lease table) cannot be leased ([`ErrorKind::NotLeasable`]). At most
//!   64 leases of one object live at once ([`ErrorKind::TooManyLeases`]).
//! - The `unsafe` accessors (`as_slice`, `as_mut_slice`) do not see leases:
//!   their contracts exclude them.
//!
//! Copies pay for this with two uncontended atomic operations on a
//! per-process cache line while no lease lives, and take a lock on the
//! lease table while one does.
//!
//! # Better than CPython
//!
//! - Locks are futexes in shared memory (no named semaphores to leak) that
//!   spin briefly before sleeping: an uncontended `Value` increment costs
//!   nanoseconds, not microseconds.
//! - A lock whose holder died (even by SIGKILL) is taken over by the next
//!   acquirer, who gets an [`OwnerDied`] instead of a deadlock, within about
//!   a millisecond of the death (waiters are woken through a pidfd of the
//!   holder). A holder in another pid namespace, whose life this process
//!   cannot see, is never taken over.
//! - A live guard's hold is released by nobody else: what it protects
//!   really is exclusive. CPython's free-standing `acquire()`/`release()`
//!   from any process is [`LockGuard::forget`] plus [`Lock::release`].
//! - A [`SharedMemory`] is unlinked by its creator's handle on drop, never
//!   by a process that merely attached; segments of a crashed creator are
//!   cleaned up by a tracker process; bytes round-trip exactly.
//! - Every blocking call has a timeout form.
//! - Workers write disjoint slices of one array in place through
//!   [`Lease`]s, checked across processes, where numpy over
//!   `SharedMemory` trusts every worker to keep to its slice.
//! - No safe API hands out a reference into memory another process may be
//!   changing: data is reached through lock guards, atomics or copies, and
//!   everything else is `unsafe` with a written contract.
//!
//! # Example
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
#![doc = concat!("use ", crate::mp_crate!(shm), "::{Array, Value};")]
//!
//! fn work(n: Value<f64>, a: Array<i32>) {
//!     *n.lock().unwrap() = 3.1415927;
//!     for x in a.lock().unwrap().iter_mut() {
//!         *x = -*x;
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let num = Value::new(0.0f64)?;
//! let arr = Array::from_slice(&(0..10).collect::<Vec<i32>>())?;
//! let mut p = Process::new(work, (num.clone(), arr.clone()));
//! p.start()?;
//! p.join()?;
//! assert_eq!(num.value()?, 3.1415927);
//! assert_eq!(arr.to_vec()?, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_shm` in this
// crate's own docs, `mp::shm` where the facade renders them.
mp_internal::doc_crate_paths!();

mod array;
mod barrier;
mod condition;
mod death_watch;
mod error;
mod event;
mod identity;
mod lease;
#[cfg(feature = "ndarray")]
mod lease_views;
mod lock;
mod object;
mod raw;
mod raw_lock;
mod semaphore;
mod shareable_list;
mod shared_data;
mod shared_memory;
mod sys;
mod tracker;
mod value;

pub use array::Array;
pub use barrier::{Barrier, BarrierAction, NoAction};
pub use condition::{Condition, ConditionGuard};
pub use error::{AcquireError, Error, ErrorKind, LockResult, OwnerDied, Result};
pub use event::Event;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use raw::{RawArray, RawValue};
pub use semaphore::{BoundedSemaphore, BoundedSemaphoreGuard, Semaphore, SemaphoreGuard};
pub use shareable_list::{Item, ShareableList};
pub use shared_memory::{MAX_NAME_LEN, SharedMemory};
pub use sys::Shareable;
pub use sys::data::{ArrayGuard, ValueGuard};
pub use sys::leased::Lease;
pub use value::Value;
