//! The records that live in shared memory. Each is `#[repr(C)]` and made of
//! atomics only, so a `&Record` into memory that other processes change at
//! the same time is sound.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64};

/// Records made only of atomic integers (valid for every bit pattern, and
/// safe to share between processes through `&`).
///
/// # Safety
///
/// The type is `#[repr(C)]` and every field is an atomic integer (or an
/// array or record of them), so any bytes are a valid value and all access
/// through `&Self` is atomic.
pub(crate) unsafe trait State: Sized + Send + Sync {}

/// The first 8 bytes of every object: `MAGIC << 32 | kind`.
pub(crate) const MAGIC: u64 = u32::from_be_bytes(*b"mpsh") as u64;

/// The core of every lock: the futex word, the holder's record and the
/// robustness data (see `raw_lock`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawLockState {
    /// Futex word: holder id | generation | `PINNED` | `CONTENDED`; 0 = free.
    pub(crate) word: AtomicU32,
    /// Recursion depth (`RLock` only).
    pub(crate) count: AtomicU32,
    /// The holder's record: start time, generation and id (0 while none).
    pub(crate) owner: AtomicU64,
    /// The holder's pid namespace (valid with a matching `owner`).
    pub(crate) owner_ns: AtomicU32,
    /// The pid namespace of every holder so far (0: none yet; `u32::MAX`:
    /// more than one, or an unknown one).
    pub(crate) holders_ns: AtomicU32,
    /// Takeovers from dead holders so far.
    pub(crate) takeovers: AtomicU32,
    /// Set when the lock was taken over from a dead owner, cleared by
    /// `mark_consistent`.
    pub(crate) inconsistent: AtomicU32,
    /// `RLock` levels held without a guard (given up by `forget`).
    pub(crate) forgotten: AtomicU32,
    pub(crate) _reserved: AtomicU32,
}

/// A `Lock` or `RLock`.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct LockState {
    pub(crate) tag: AtomicU64,
    pub(crate) raw: RawLockState,
}

/// A `Semaphore` or `BoundedSemaphore`.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct SemaphoreState {
    pub(crate) tag: AtomicU64,
    /// Futex word: the counter.
    pub(crate) value: AtomicU32,
    /// Processes/threads that may sleep on `value`.
    pub(crate) waiters: AtomicU32,
    /// The bound (`u32::MAX` for a plain semaphore).
    pub(crate) max: AtomicU32,
}

/// An `Event`.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct EventState {
    pub(crate) tag: AtomicU64,
    /// Futex word: 0 clear, 1 set.
    pub(crate) flag: AtomicU32,
    pub(crate) waiters: AtomicU32,
}

/// A `Condition` (its lock lives elsewhere).
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct ConditionState {
    pub(crate) tag: AtomicU64,
    /// Futex word: bumped by every notify.
    pub(crate) seq: AtomicU32,
    /// Waiters not yet counted by a notify (changed under the lock).
    pub(crate) waiters: AtomicU32,
    /// Wake-ups handed out by notify and not yet taken by a waiter.
    pub(crate) tokens: AtomicU32,
}

/// A `Barrier`: Python's algorithm over an internal lock and a broadcast word.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct BarrierState {
    pub(crate) tag: AtomicU64,
    pub(crate) lock: RawLockState,
    /// Futex word: bumped on every broadcast.
    pub(crate) seq: AtomicU32,
    pub(crate) parties: AtomicU32,
    pub(crate) count: AtomicU32,
    /// 0 filling, 1 draining, -1 resetting, -2 broken (Python's states).
    pub(crate) state: AtomicI32,
    /// Default timeout in nanoseconds, `u64::MAX` for none.
    pub(crate) timeout_ns: AtomicU64,
}

/// The header of a `Value`/`Array`/`RawValue`/`RawArray` segment.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct DataHeader {
    pub(crate) tag: AtomicU64,
    pub(crate) type_hash: AtomicU64,
    pub(crate) elem_size: AtomicU64,
    pub(crate) elem_align: AtomicU64,
    pub(crate) len: AtomicU64,
}

/// The header of a `ShareableList` segment.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct ListHeader {
    pub(crate) tag: AtomicU64,
    pub(crate) lock: RawLockState,
    pub(crate) count: AtomicU64,
    /// Total bytes of the list (header, slots and payloads).
    pub(crate) total: AtomicU64,
}

/// One slot of a `ShareableList`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SlotMeta {
    pub(crate) kind: AtomicU32,
    pub(crate) len: AtomicU32,
    pub(crate) capacity: AtomicU64,
    pub(crate) offset: AtomicU64,
}

/// One slot of the cleanup tracker's table (the name follows it).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct TrackerSlot {
    /// 0 free, 1 registered.
    pub(crate) state: AtomicU32,
    pub(crate) len: AtomicU32,
}

// SAFETY: each type below is `#[repr(C)]` and made only of atomic
// integers, as the trait requires.
unsafe impl State for LockState {}
// SAFETY: see above.
unsafe impl State for SemaphoreState {}
// SAFETY: see above.
unsafe impl State for EventState {}
// SAFETY: see above.
unsafe impl State for ConditionState {}
// SAFETY: see above.
unsafe impl State for BarrierState {}
// SAFETY: see above.
unsafe impl State for DataHeader {}
// SAFETY: see above.
unsafe impl State for ListHeader {}
// SAFETY: see above.
unsafe impl State for SlotMeta {}
// SAFETY: see above.
unsafe impl State for TrackerSlot {}

// The layouts that other offsets rely on: a `ShareableList`'s slots start
// at byte 64, a `Value`'s inline lock fills bytes 64..128.
const _: () = assert!(std::mem::size_of::<ListHeader>() == 64);
const _: () = assert!(std::mem::size_of::<LockState>() == 64);
