//! The lease table of an `Array`, `RawArray` or `SharedMemory`: who holds
//! which bytes, and the gate every other access to the data passes.
//!
//! A lease is a range of bytes of an object's data that one process holds
//! alone: it gets a `&mut [T]` of them (see [`Lease`](crate::Lease)). That
//! is sound only if nothing else touches those bytes while it lives, so
//! every safe accessor of the data checks this table:
//!
//! - **Leases** are entries of the table (64 per object), written under
//!   the table's robust lock; one that overlaps a live entry is refused.
//!   An entry records its holder's pid, start time and pid namespace, like
//!   a lock's holder: an entry whose holder died (judged as locks judge,
//!   only in this process's own namespace) is freed by the next process
//!   that finds it in its way.
//! - **Copies** without a lock (`RawArray`'s element and bulk accesses,
//!   `SharedMemory::read_at`/`write_at`) pass a gate: the process counts
//!   itself in flight in its own slot of the table (`active`), then reads
//!   the count of live leases; at zero it copies. A new lease counts
//!   itself live, then waits until no slot is in flight. Both sides use
//!   sequentially consistent accesses, so one always sees the other
//!   (Dekker's protocol): a copy never runs beside a lease it did not see.
//!   While any lease lives, copies take the table lock instead, and are
//!   refused ([`ErrorKind::Leased`]) if they overlap one (a `SharedMemory`
//!   copy covers whole 8-byte words, see `atomic_copy`).
//! - **An `Array`'s lock**: its data is only reached under its lock, and
//!   its leases are granted under that lock too. A whole-array guard waits
//!   (under the lock) until no lease lives; a one-element access checks
//!   its element.
//! - **A `ShareableList`'s segment** is marked unleasable when the list is
//!   made (its header and slots are atomics that no `&mut [u8]` may cover).
//!
//! A process that dies while copying leaves its slot counted in flight; a
//! new lease does not wait for a dead process. A process that dies holding
//! the table lock leaves the entries consistent (each is written in an
//! order a reader tolerates, the live count is recounted by the next
//! holder).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::time::Duration;

use mp_internal::{Deadline, futex};

use crate::death_watch::{self, Holder, POLL_INTERVAL, START_BITS, Watch};
use crate::error::{AcquireError, Error, ErrorKind, Result};
use crate::identity::{self, Me};
use crate::lock::Lock;
use crate::raw_lock::{Acquired, Owner};
use crate::sys::layout::{AccessSlot, LeaseEntry, LeaseTable};
use crate::sys::memory::{Segment, View};

/// `LeaseTable::flags`: the segment holds a `ShareableList`.
pub(crate) const NO_LEASES: u32 = 1;

/// A granted lease: its entry and its holder.
#[derive(Debug)]
pub(crate) struct Ticket {
    index: usize,
    pid: u32,
    start: u64,
}

/// The lease table of one object, as this process reaches it.
pub(crate) struct Leases {
    table: View<LeaseTable>,
    /// This process's access slot, `pid << 32 | index + 1` (0 after the
    /// pid: no slot free; 0 altogether: not looked up yet).
    slot: AtomicU64,
}

/// Why a lease cannot be granted now.
enum Blocked {
    /// A live lease overlaps (its holder, if this process can judge it).
    Overlap(Option<Holder>),
    Full,
}

/// The table lock, held.
struct Held<'a> {
    table: &'a LeaseTable,
    word: u32,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.table.lock.unlock(self.word);
    }
}

fn start_bits(me: Me) -> u64 {
    me.start & ((1 << START_BITS) - 1)
}

/// The holder recorded as `(pid, ns, start)`, if this process can judge
/// whether it lives (`None`: this process, or another namespace).
fn judge(pid: u32, ns: u32, start: u64) -> Option<Holder> {
    let me = identity::process();
    (pid != me.id && ns == me.ns && ns != 0).then_some(Holder {
        id: pid,
        start: Some(start),
        thread: false,
    })
}

fn entry_holder(e: &LeaseEntry) -> Option<Holder> {
    judge(
        e.pid.load(Acquire),
        e.ns.load(Relaxed),
        e.start.load(Relaxed),
    )
}

fn slot_is_dead(s: &AccessSlot) -> bool {
    let pid = s.pid.load(Acquire);
    pid != 0
        && judge(pid, s.ns.load(Relaxed), s.start.load(Relaxed)).is_some_and(death_watch::is_dead)
}

fn overlaps(e: &LeaseEntry, bytes: &Range<u64>) -> bool {
    e.pid.load(Acquire) != 0
        && e.begin.load(Relaxed) < bytes.end
        && bytes.start < e.end.load(Relaxed)
}

/// The bytes of elements `range` of `T`s, in the lease table's terms.
pub(crate) fn element_bytes<T>(range: Range<usize>) -> Range<usize> {
    let size = std::mem::size_of::<T>();
    range.start * size..range.end * size
}

pub(crate) fn leased(what: &str) -> Error {
    Error::new(ErrorKind::Leased, what.to_owned())
}

fn as_u64(bytes: &Range<usize>) -> Range<u64> {
    bytes.start as u64..bytes.end as u64
}

impl Leases {
    /// The table at `offset` of `seg` (anywhere in the mapped file).
    pub(crate) fn new(seg: Arc<Segment>, offset: usize) -> Option<Leases> {
        Some(Leases {
            table: View::in_tail(seg, offset)?,
            slot: AtomicU64::new(0),
        })
    }

    fn t(&self) -> &LeaseTable {
        self.table.get()
    }

    /// Takes the table lock. A holder that died while holding it may have
    /// left the live count wrong: it is recounted then.
    fn hold(&self) -> Held<'_> {
        let t = self.t();
        let hold = t
            .lock
            .lock(Owner::Process, false, &Deadline::never())
            .expect("an unbounded wait does not time out");
        if hold.acquired == Acquired::OwnerDied {
            let live = t.entries.iter().filter(|e| e.pid.load(Acquire) != 0);
            t.live.store(live.count() as u32, SeqCst);
            t.lock.mark_consistent();
        }
        Held {
            table: t,
            word: hold.word,
        }
    }

    /// Frees entry `e` (under the table lock) and wakes the waiters.
    fn free(&self, e: &LeaseEntry) {
        let t = self.t();
        e.pid.store(0, Release);
        t.live.fetch_sub(1, SeqCst);
        t.seq.fetch_add(1, SeqCst);
        if t.waiters.load(SeqCst) > 0 {
            futex::wake_all(&t.seq);
        }
    }

    /// The first live lease that overlaps `bytes`, after freeing the
    /// overlapping leases of dead holders (under the table lock).
    fn overlapping(&self, _held: &Held<'_>, bytes: &Range<u64>) -> Option<Option<Holder>> {
        for e in self.t().entries.iter().filter(|e| overlaps(e, bytes)) {
            let holder = entry_holder(e);
            if holder.is_some_and(death_watch::is_dead) {
                self.free(e);
            } else {
                return Some(holder);
            }
        }
        None
    }

    /// Frees the leases of every dead holder (under the table lock).
    fn reclaim_all(&self, _held: &Held<'_>) {
        for e in self.t().entries.iter() {
            if e.pid.load(Acquire) != 0 && entry_holder(e).is_some_and(death_watch::is_dead) {
                self.free(e);
            }
        }
    }

    /// Records a lease of `bytes` for this process, unless blocked.
    fn try_insert(&self, held: &Held<'_>, bytes: &Range<u64>) -> Result<Ticket, Blocked> {
        if let Some(holder) = self.overlapping(held, bytes) {
            return Err(Blocked::Overlap(holder));
        }
        let t = self.t();
        let free = |t: &LeaseTable| t.entries.iter().position(|e| e.pid.load(Acquire) == 0);
        let index = match free(t) {
            Some(i) => i,
            None => {
                self.reclaim_all(held);
                free(t).ok_or(Blocked::Full)?
            }
        };
        let me = identity::process();
        let e = &t.entries[index];
        e.begin.store(bytes.start, Relaxed);
        e.end.store(bytes.end, Relaxed);
        e.ns.store(me.ns, Relaxed);
        e.start.store(start_bits(me), Relaxed);
        // Last: the entry is live from here on.
        e.pid.store(me.id, Release);
        t.live.fetch_add(1, SeqCst);
        Ok(Ticket {
            index,
            pid: me.id,
            start: start_bits(me),
        })
    }

    /// Grants this process a lease of `bytes`, waiting by `deadline` for
    /// overlapping leases to end. `lock`: the array's lock, which a lease
    /// of an `Array` takes for the moment it is granted.
    pub(crate) fn acquire(
        &self,
        bytes: Range<usize>,
        deadline: &Deadline,
        lock: Option<&Lock>,
    ) -> Result<Ticket> {
        let bytes = as_u64(&bytes);
        let t = self.t();
        let mut watch = None;
        loop {
            let seq = t.seq.load(SeqCst);
            let guard = match lock.map(|l| l.acquire_with(deadline)) {
                None => None,
                Some(Ok(g)) => Some(g),
                // Granting a lease repairs nothing: the next guard still
                // gets `OwnerDied`.
                Some(Err(AcquireError::OwnerDied(e))) => Some(e.into_inner()),
                Some(Err(AcquireError::Timeout)) => return Err(leased("the array is locked")),
            };
            let tried = {
                let held = self.hold();
                if t.flags.load(Relaxed) & NO_LEASES != 0 {
                    return Err(Error::new(
                        ErrorKind::NotLeasable,
                        "the segment holds a ShareableList, which cannot be leased",
                    ));
                }
                self.try_insert(&held, &bytes)
            };
            drop(guard);
            let blocked = match tried {
                Ok(ticket) => {
                    // An array's data is only copied under its lock.
                    if lock.is_some() || self.drain(deadline) {
                        return Ok(ticket);
                    }
                    self.release(&ticket);
                    return Err(leased("copies of the range stayed in flight"));
                }
                Err(blocked) => blocked,
            };
            if deadline.passed() {
                return Err(match blocked {
                    Blocked::Overlap(_) => leased("the range overlaps a lease held elsewhere"),
                    Blocked::Full => Error::new(
                        ErrorKind::TooManyLeases,
                        "every lease entry of the object is taken",
                    ),
                });
            }
            let holder = match blocked {
                Blocked::Overlap(h) => h,
                Blocked::Full => None,
            };
            self.sleep(seq, holder, &mut watch, deadline);
        }
    }

    /// Sleeps until a lease ends (`seq` moves), `holder` dies, or at most
    /// [`POLL_INTERVAL`] when no death wakes us.
    fn sleep(
        &self,
        seq: u32,
        holder: Option<Holder>,
        watch: &mut Option<Watch>,
        deadline: &Deadline,
    ) {
        let t = self.t();
        if watch.as_ref().map(Watch::holder) != holder {
            *watch = holder.and_then(|h| Watch::new(h, &t.seq).ok());
        }
        let left = deadline.remaining();
        let nap = match watch {
            Some(_) => left,
            None => Some(left.map_or(POLL_INTERVAL, |l| l.min(POLL_INTERVAL))),
        };
        t.waiters.fetch_add(1, SeqCst);
        futex::wait(&t.seq, seq, nap);
        t.waiters.fetch_sub(1, SeqCst);
    }

    /// Waits until no copy is in flight (except in dead processes), by
    /// `deadline` (a zero timeout still spins briefly: copies are short).
    fn drain(&self, deadline: &Deadline) -> bool {
        for slot in &self.t().slots {
            let mut spins = mp_internal::spin::rounds(100);
            loop {
                let active = slot.active.load(SeqCst);
                if active == 0 || slot_is_dead(slot) {
                    break;
                }
                if spins > 0 {
                    spins -= 1;
                    std::hint::spin_loop();
                    continue;
                }
                let left = deadline.remaining();
                if left == Some(Duration::ZERO) {
                    return false;
                }
                let nap = left.map_or(POLL_INTERVAL, |l| l.min(POLL_INTERVAL));
                futex::wait(&slot.active, active, Some(nap));
            }
        }
        true
    }

    /// Ends the lease `ticket` (if this process holds it: a forked child's
    /// copy of a lease ends nothing).
    pub(crate) fn release(&self, ticket: &Ticket) {
        let me = identity::process();
        if me.id != ticket.pid || start_bits(me) != ticket.start {
            return;
        }
        let _held = self.hold();
        let e = &self.t().entries[ticket.index];
        if e.pid.load(Acquire) == ticket.pid && e.start.load(Relaxed) == ticket.start {
            self.free(e);
        }
    }

    /// Whether some lease lives (one load: for an `Array` under its lock).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.t().live.load(SeqCst) != 0
    }

    /// Under the array's lock: waits by `deadline` until no lease lives.
    pub(crate) fn wait_none(&self, deadline: &Deadline) -> bool {
        let t = self.t();
        let mut watch = None;
        loop {
            if !self.any() {
                return true;
            }
            let seq = t.seq.load(SeqCst);
            let holder = {
                let held = self.hold();
                self.reclaim_all(&held);
                match t.entries.iter().find(|e| e.pid.load(Acquire) != 0) {
                    None => return true,
                    Some(e) => entry_holder(e),
                }
            };
            if deadline.passed() {
                return false;
            }
            self.sleep(seq, holder, &mut watch, deadline);
        }
    }

    /// Under the array's lock: [`ErrorKind::Leased`] if a lease overlaps
    /// `bytes`.
    pub(crate) fn check_free(&self, bytes: Range<usize>) -> Result<()> {
        if !self.any() {
            return Ok(());
        }
        let held = self.hold();
        match self.overlapping(&held, &as_u64(&bytes)) {
            Some(_) => Err(leased("the range is leased")),
            None => Ok(()),
        }
    }

    /// Runs the copy `f` of `bytes` unless a lease overlaps them
    /// ([`ErrorKind::Leased`]); see the module docs.
    #[inline]
    pub(crate) fn access<R>(&self, bytes: Range<usize>, f: impl FnOnce() -> R) -> Result<R> {
        let t = self.t();
        if let Some(slot) = self.my_slot() {
            slot.active.fetch_add(1, SeqCst);
            if t.live.load(SeqCst) == 0 {
                let r = f();
                leave(t, slot);
                return Ok(r);
            }
            leave(t, slot);
        }
        self.access_slow(bytes, f)
    }

    #[cold]
    fn access_slow<R>(&self, bytes: Range<usize>, f: impl FnOnce() -> R) -> Result<R> {
        let held = self.hold();
        if self.overlapping(&held, &as_u64(&bytes)).is_some() {
            return Err(leased("the range is leased"));
        }
        // Under the table lock: no lease can be granted meanwhile.
        Ok(f())
    }

    /// This process's access slot, claimed on first use.
    #[inline]
    fn my_slot(&self) -> Option<&AccessSlot> {
        let pid = identity::process().id;
        let cached = self.slot.load(Relaxed);
        if cached >> 32 == u64::from(pid) {
            let index = (cached & 0xffff_ffff) as usize;
            return index.checked_sub(1).map(|i| &self.t().slots[i]);
        }
        self.claim_slot()
    }

    #[cold]
    fn claim_slot(&self) -> Option<&AccessSlot> {
        let me = identity::process();
        let slots = &self.t().slots;
        let _held = self.hold();
        let mine = |s: &AccessSlot| {
            s.pid.load(Acquire) == me.id
                && s.ns.load(Relaxed) == me.ns
                && s.start.load(Relaxed) == start_bits(me)
        };
        let index = slots.iter().position(mine).or_else(|| {
            let i = slots.iter().position(|s| {
                let pid = s.pid.load(Acquire);
                // A slot of our pid with another start time: that process
                // is gone (ours runs).
                pid == 0 || pid == me.id || slot_is_dead(s)
            })?;
            let s = &slots[i];
            s.pid.store(0, Release);
            // A dead process's copies are over.
            s.active.store(0, SeqCst);
            s.ns.store(me.ns, Relaxed);
            s.start.store(start_bits(me), Relaxed);
            s.pid.store(me.id, Release);
            Some(i)
        });
        let code = index.map_or(0, |i| i as u64 + 1);
        self.slot.store(u64::from(me.id) << 32 | code, Relaxed);
        index.map(|i| &slots[i])
    }

    /// Marks the segment unleasable (a `ShareableList`'s), unless a lease
    /// lives already.
    pub(crate) fn forbid(&self) -> Result<()> {
        let held = self.hold();
        self.reclaim_all(&held);
        if self.any() {
            return Err(leased("the segment is leased"));
        }
        self.t().flags.fetch_or(NO_LEASES, SeqCst);
        Ok(())
    }
}

/// Ends a copy of `slot`'s process; wakes a lease that waits for it.
#[inline]
fn leave(t: &LeaseTable, slot: &AccessSlot) {
    if slot.active.fetch_sub(1, SeqCst) == 1 && t.live.load(SeqCst) != 0 {
        futex::wake_all(&slot.active);
    }
}

impl Clone for Leases {
    fn clone(&self) -> Leases {
        Leases {
            table: self.table.clone(),
            slot: AtomicU64::new(self.slot.load(Relaxed)),
        }
    }
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("live", &self.t().live.load(Relaxed))
            .finish()
    }
}
