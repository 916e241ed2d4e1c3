//! `Barrier`: Python's barrier algorithm (filling, draining, resetting,
//! broken) over a robust internal lock and a futex broadcast word.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

use mp_internal::{Deadline, futex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::object::{self, Kind};
use crate::raw_lock::{Acquired, Owner};
use crate::sys::layout::BarrierState;
use crate::sys::memory::View;

const FILLING: i32 = 0;
const DRAINING: i32 = 1;
const RESETTING: i32 = -1;
const BROKEN: i32 = -2;
const NO_TIMEOUT: u64 = u64::MAX;

/// What a [`Barrier`] runs once per cycle, in the process that arrives
/// last (Python's `action=`).
///
/// An action is a type, not a value: a value cannot travel to another
/// process (a closure's captures mean nothing there), so every process
/// that gets a handle of a `Barrier<A>` makes its own action with
/// `A::default()`. Reach shared state through statics or shared objects.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static CYCLES: AtomicU32 = AtomicU32::new(0);
///
/// #[derive(Default)]
/// struct CountCycle;
///
#[doc = concat!("impl ", crate::mp_crate!(shm), "::BarrierAction for CountCycle {")]
///     fn run(&self) {
///         CYCLES.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let barrier = ", crate::mp_crate!(shm), "::Barrier::with_action(1, CountCycle)?;")]
/// barrier.wait()?;
/// assert_eq!(CYCLES.load(Ordering::Relaxed), 1);
/// # Ok(())
/// # }
/// ```
///
/// A closure is not an action (it has no `Default`), so nothing it
/// captures is ever made up in another process, not even a zero-sized
/// token whose existence proves something:
///
/// ```compile_fail
/// struct Proof(()); // made only where the fact it proves holds
/// let proof = Proof(());
#[doc = concat!("let _ = ", crate::mp_crate!(shm), "::Barrier::with_action(2, move || {")]
///     let _: &Proof = &proof;
/// });
/// ```
pub trait BarrierAction: Default + Send + Sync + 'static {
    /// Runs the action.
    fn run(&self);
}

/// The action of a barrier without one.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAction;

impl BarrierAction for NoAction {
    fn run(&self) {}
}

/// A process-shared barrier (Python's `multiprocessing.Barrier(parties,
/// action, timeout)`).
///
/// Each of `parties` processes (or threads) calls [`wait`](Barrier::wait);
/// all return together once the last arrives, each with a different index
/// in `0..parties` (the last gets `parties - 1`). The action runs once per
/// cycle, in the last arriver, before anyone is released; if it panics, the
/// barrier breaks and the panic continues in that process. A timeout, an
/// [`abort`](Barrier::abort) or a dead holder of its internal lock breaks
/// the barrier: every waiter gets [`ErrorKind::BrokenBarrier`] until
/// [`reset`](Barrier::reset).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let barrier = ", crate::mp_crate!(shm), "::Barrier::new(1)?;")]
/// assert_eq!(barrier.wait()?, 0);
/// # Ok(())
/// # }
/// ```
pub struct Barrier<A: BarrierAction = NoAction> {
    view: View<BarrierState>,
    action: A,
}

impl Barrier<NoAction> {
    /// A barrier for `parties` participants (at least 1), without action or
    /// default timeout.
    pub fn new(parties: u32) -> Result<Barrier<NoAction>> {
        Barrier::with_action(parties, NoAction)
    }
}

struct Held<'a> {
    st: &'a BarrierState,
    /// The internal lock's hold.
    word: u32,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.st.lock.unlock(self.word);
    }
}

impl<A: BarrierAction> Barrier<A> {
    /// A barrier whose `action` runs once per cycle in the last arriver
    /// (other processes run their own `A::default()`, see [`BarrierAction`]).
    pub fn with_action(parties: u32, action: A) -> Result<Barrier<A>> {
        const {
            assert!(
                std::mem::size_of::<A>() == 0,
                "a barrier action carries no data: each process makes its own with A::default()"
            )
        };
        if parties == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a barrier needs at least 1 party",
            ));
        }
        let view = object::create::<BarrierState>(Kind::Barrier, 0)?;
        let st = view.get();
        st.parties.store(parties, Relaxed);
        st.timeout_ns.store(NO_TIMEOUT, SeqCst);
        Ok(Barrier { view, action })
    }

    /// Sets the default timeout of [`wait`](Barrier::wait) for every
    /// process (Python's `timeout=` argument).
    pub fn default_timeout(self, timeout: Duration) -> Barrier<A> {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(NO_TIMEOUT - 1);
        self.view.get().timeout_ns.store(ns, SeqCst);
        self
    }

    fn st(&self) -> &BarrierState {
        self.view.get()
    }

    fn lock(&self) -> Held<'_> {
        let st = self.st();
        let hold = st
            .lock
            .lock(Owner::Process, false, &Deadline::never())
            .expect("an unbounded wait does not time out");
        if hold.acquired == Acquired::OwnerDied {
            // A process died inside the barrier: its state cannot be trusted.
            st.lock.mark_consistent();
            st.state.store(BROKEN, SeqCst);
            notify_all(st);
        }
        Held {
            st,
            word: hold.word,
        }
    }

    /// Releases the internal lock, sleeps until a broadcast (or `wait`
    /// ends), re-takes the lock. False if the wait expired.
    fn sleep(&self, held: Held<'_>, deadline: &Deadline) -> (Held<'_>, bool) {
        let st = self.st();
        let seq = st.seq.load(SeqCst);
        drop(held);
        let mut woke = false;
        for _ in 0..mp_internal::spin::rounds(200) {
            if st.seq.load(SeqCst) != seq {
                woke = true;
                break;
            }
            std::hint::spin_loop();
        }
        let left = deadline.remaining();
        if !woke && left != Some(Duration::ZERO) {
            futex::wait(&st.seq, seq, left);
        }
        let expired = deadline.passed();
        (self.lock(), !expired)
    }

    /// Waits for all parties, with the default timeout if one was set.
    /// Returns this caller's index in the cycle.
    pub fn wait(&self) -> Result<usize> {
        let ns = self.st().timeout_ns.load(SeqCst);
        if ns == NO_TIMEOUT {
            self.wait_inner(&Deadline::never())
        } else {
            self.wait_inner(&Deadline::after(Duration::from_nanos(ns)))
        }
    }

    /// Waits at most `timeout`; a timeout breaks the barrier for everyone
    /// (Python's `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_inner(&Deadline::after(timeout))
    }

    fn wait_inner(&self, deadline: &Deadline) -> Result<usize> {
        let st = self.st();
        let mut held = self.lock();
        // Python's _enter: block while the previous cycle drains or resets.
        while matches!(st.state.load(SeqCst), RESETTING | DRAINING) {
            held = self.sleep(held, &Deadline::never()).0;
        }
        if st.state.load(SeqCst) < 0 {
            return Err(broken());
        }
        let index = st.count.fetch_add(1, SeqCst);
        let result = if index + 1 == st.parties.load(Relaxed) {
            match catch_unwind(AssertUnwindSafe(|| self.action.run())) {
                Ok(()) => {
                    st.state.store(DRAINING, SeqCst);
                    notify_all(st);
                    Ok(index as usize)
                }
                Err(panic) => {
                    st.state.store(BROKEN, SeqCst);
                    notify_all(st);
                    st.count.fetch_sub(1, SeqCst);
                    self.exit();
                    drop(held);
                    resume_unwind(panic);
                }
            }
        } else {
            let mut in_time = true;
            while st.state.load(SeqCst) == FILLING {
                if !in_time {
                    break;
                }
                let (h, ok) = self.sleep(held, deadline);
                held = h;
                in_time = ok;
            }
            match st.state.load(SeqCst) {
                FILLING => {
                    // Timed out: break it for everyone (Python's _break).
                    st.state.store(BROKEN, SeqCst);
                    notify_all(st);
                    Err(broken())
                }
                s if s < 0 => Err(broken()),
                _ => Ok(index as usize),
            }
        };
        st.count.fetch_sub(1, SeqCst);
        self.exit();
        drop(held);
        result
    }

    /// Python's _exit: the last one out ends draining or resetting.
    fn exit(&self) {
        let st = self.st();
        if st.count.load(SeqCst) == 0 && matches!(st.state.load(SeqCst), RESETTING | DRAINING) {
            st.state.store(FILLING, SeqCst);
            notify_all(st);
        }
    }

    /// Breaks the barrier: current and future waiters get
    /// [`ErrorKind::BrokenBarrier`] until [`reset`](Barrier::reset).
    pub fn abort(&self) {
        let _held = self.lock();
        self.st().state.store(BROKEN, SeqCst);
        notify_all(self.st());
    }

    /// Returns the barrier to its empty state; current waiters get
    /// [`ErrorKind::BrokenBarrier`].
    pub fn reset(&self) {
        let st = self.st();
        let _held = self.lock();
        if st.count.load(SeqCst) > 0 {
            if matches!(st.state.load(SeqCst), FILLING | BROKEN) {
                st.state.store(RESETTING, SeqCst);
            }
        } else {
            st.state.store(FILLING, SeqCst);
        }
        notify_all(st);
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.st().parties.load(Relaxed)
    }

    /// How many are waiting in the current cycle (Python's `n_waiting`).
    pub fn n_waiting(&self) -> u32 {
        let st = self.st();
        if st.state.load(SeqCst) == FILLING {
            st.count.load(SeqCst)
        } else {
            0
        }
    }

    /// Whether the barrier is broken (Python's `broken`).
    #[doc(alias = "broken")]
    pub fn is_broken(&self) -> bool {
        self.st().state.load(SeqCst) == BROKEN
    }
}

fn notify_all(st: &BarrierState) {
    st.seq.fetch_add(1, SeqCst);
    futex::wake_all(&st.seq);
}

fn broken() -> Error {
    Error::new(ErrorKind::BrokenBarrier, "the barrier is broken")
}

impl<A: BarrierAction> Clone for Barrier<A> {
    fn clone(&self) -> Barrier<A> {
        Barrier {
            view: self.view.clone(),
            action: A::default(),
        }
    }
}

impl<A: BarrierAction> fmt::Debug for Barrier<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

impl<A: BarrierAction> Serialize for Barrier<A> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        object::serialize_view(&self.view, s)
    }
}

impl<'de, A: BarrierAction> Deserialize<'de> for Barrier<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Barrier<A>, D::Error> {
        object::deserialize_view(d, Kind::Barrier).map(|view| Barrier {
            view,
            action: A::default(),
        })
    }
}
