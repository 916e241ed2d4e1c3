//! The shared header: every field an atomic, producer and consumer fields
//! on separate cache lines so the two sides do not slow each other down.

use std::sync::atomic::{AtomicU32, AtomicU64};

/// Marks an initialised queue segment ("mpqueue6": with `Bias` and its
/// `stale`, abandoned streams, `Config::shutdown` and `Wakeup::awaiting`).
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"mpqueue6");

/// `Config::shutdown`: the queue is open.
pub(crate) const OPEN: u32 = 0;
/// `Config::shutdown`: `shutdown(false)` was called (puts fail, gets drain).
pub(crate) const SHUT_DOWN: u32 = 1;
/// `Config::shutdown`: `shutdown(true)` was called (puts and gets fail).
pub(crate) const SHUT_DOWN_NOW: u32 = 2;

#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Line<T>(pub(crate) T);

#[derive(Default)]
pub(crate) struct Config {
    pub(crate) magic: AtomicU64,
    /// Most items in the queue at once; 0 means no limit.
    pub(crate) maxsize: AtomicU64,
    /// Mixed into every chunk tag (`chunk::tag`).
    pub(crate) tag_key: AtomicU64,
    /// [`OPEN`], [`SHUT_DOWN`] or [`SHUT_DOWN_NOW`]; only ever grows. On
    /// this line, which nothing else writes after creation, so every
    /// put's and get's look at it stays a cache hit.
    pub(crate) shutdown: AtomicU32,
}

#[derive(Default)]
pub(crate) struct Producer {
    /// Ring bytes published so far (stream position; only grows).
    pub(crate) tail: AtomicU64,
    /// Messages published so far.
    pub(crate) puts: AtomicU64,
    /// The pid of a producer streaming a message larger than the free
    /// space, while it does; 0 otherwise.
    pub(crate) streaming: AtomicU32,
    /// Where that stream started (`tail` stays there until its first
    /// chunk is published).
    pub(crate) stream_start: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Consumer {
    /// Ring bytes consumed so far.
    pub(crate) head: AtomicU64,
    /// Messages taken so far.
    pub(crate) gets: AtomicU64,
}

/// Who may take a side's turn (producers' or consumers') without the
/// side's lock: see `turn`. Only the side's turns touch these fields.
#[derive(Default)]
pub(crate) struct Bias {
    /// The owning thread's key (`turn::Key`), with `turn::REVOKE` set while
    /// another thread takes the bias away; 0: no owner, the lock decides.
    pub(crate) owner: AtomicU64,
    /// 1 while a turn is in progress, the owner's or a lock holder's (a
    /// futex word: revokers sleep on it). A dead holder that left it set
    /// died in the middle of a turn.
    pub(crate) busy: AtomicU32,
    /// Consecutive lock turns taken by `streak_key` (under the lock).
    pub(crate) streak: AtomicU32,
    pub(crate) streak_key: AtomicU64,
    /// The streak that earns the bias; 0 means the initial value. Doubles
    /// with every revocation, so taking turns by turns stays on the lock.
    pub(crate) earn_at: AtomicU32,
    /// The key of a former owner whose bias another thread ended and that
    /// may still be inside `take`'s fast path (see `turn`); 0: none. Nobody
    /// earns the bias while it is set.
    pub(crate) stale: AtomicU64,
}

/// A futex word: 1 while someone sleeps (or is about to) waiting for a
/// change, 0 once a waker has taken that on. A waker makes a system call
/// only when it flips 1 to 0: once per sleep, however many changes follow.
///
/// For the consumers' data wake-up only (the others leave them 0):
/// `awaiting` counts the async waiters (`get_async`, in any process), for
/// whom a waker also rings the queue's doorbell (see `doorbell`); they
/// announce their sleeps in `sleeping` too, so a waker reads the count only
/// when it flips `sleeping`. `turn_missed` is 1 while an async waiter
/// found the consumers' turn taken and awaits its end: whoever ends a
/// consumers' turn looks at it (a load per get) and rings.
#[derive(Default)]
pub(crate) struct Wakeup {
    pub(crate) sleeping: AtomicU32,
    pub(crate) awaiting: AtomicU32,
    pub(crate) turn_missed: AtomicU32,
}

#[derive(Default)]
pub(crate) struct Header {
    pub(crate) config: Line<Config>,
    pub(crate) producer: Line<Producer>,
    pub(crate) consumer: Line<Consumer>,
    pub(crate) put_bias: Line<Bias>,
    pub(crate) get_bias: Line<Bias>,
    /// Consumers wait here for data.
    pub(crate) data: Line<Wakeup>,
    /// Producers wait here for space (ring bytes or `maxsize`).
    pub(crate) space: Line<Wakeup>,
    /// `JoinableQueue`: tasks put but not yet marked done, and `join` waiters.
    pub(crate) unfinished: Line<AtomicU64>,
    pub(crate) joined: Line<Wakeup>,
    /// Messages lost because a producer or consumer died holding them.
    pub(crate) torn: Line<AtomicU64>,
}
