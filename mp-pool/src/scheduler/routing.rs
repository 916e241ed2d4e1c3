//! Who takes reports off the result queue: the result thread, or a thread
//! waiting for its own result.
//!
//! A result that reaches its caller through the result thread costs two
//! wake-ups (the result thread's, then the caller's), each a cross-core
//! wake-up of about 50 µs on a small machine. So when the pool is idle, the
//! result thread *parks* off the queue, and a thread that then blocks in
//! [`AsyncResult::get`](crate::AsyncResult::get) (or `wait`, `apply`...)
//! takes reports off the queue itself while it waits: its result comes
//! straight from the worker, without a wake-up at all while both are busy.
//! There is one router at a time, the result thread or one caller.
//!
//! - The result thread parks once it has delivered the last result in
//!   flight (before delivering it, so the caller it wakes finds it parked).
//!   It goes back to the queue (is *kicked*) when work is submitted that no
//!   one may wait for (`apply_async`, `map_async`, `imap`, and the chunks
//!   of a `map` after its first, while they are being framed), when the
//!   routing caller leaves with chunks still in flight, when a worker dies,
//!   and when the pool is closed or stopped; as a safety net it also looks
//!   every [`TICK`].
//! - A caller routes only while the result thread is parked (else it waits
//!   for its result to be routed to it, as before), and routes every report
//!   (other jobs' results, a worker's death).
//! - Callbacks still run on the result thread only: a result for a job
//!   with callbacks, or an initializer failure, that a caller took off the
//!   queue is handed to the result thread (*deferred*), which then puts a
//!   `Wake` on the queue for the caller, whose own result it may have been.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Chunk, Phase, Scheduler, TICK};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::result::INTERRUPT_POLL;
use crate::scheduler::result_thread::on_result_thread;
use crate::wire::Report;

/// Who routes, and what the result thread should do.
pub(super) struct Routing {
    state: Mutex<RouteState>,
    changed: Condvar,
}

#[derive(Default)]
struct RouteState {
    /// A caller takes reports off the queue now.
    caller: bool,
    /// The result thread stays off the queue until kicked.
    parked: bool,
    /// The result thread was asked for while a caller routed: the caller
    /// kicks it when it leaves.
    kick_pending: bool,
    /// Work a caller took off the queue that must run on the result thread.
    deferred: VecDeque<Deferred>,
}

/// Work handed from a routing caller to the result thread.
pub(super) enum Deferred {
    /// A chunk's outcome, for a job with callbacks.
    Deliver(Chunk, Result<Vec<u8>>),
    /// A report the result thread handles itself.
    Report(Report),
}

impl Routing {
    pub(super) fn new() -> Routing {
        Routing {
            // Nothing is in flight yet.
            state: Mutex::new(RouteState {
                parked: true,
                ..RouteState::default()
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RouteState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The routing role of a caller, given back when dropped (also when the
/// routing panics).
struct CallerRoute<'a> {
    scheduler: &'a Scheduler,
}

impl Drop for CallerRoute<'_> {
    fn drop(&mut self) {
        let pending = {
            let mut r = self.scheduler.routing.lock();
            r.caller = false;
            std::mem::take(&mut r.kick_pending)
        };
        if pending || self.scheduler.has_work() {
            self.scheduler.kick();
        }
    }
}

impl Scheduler {
    /// Whether reports may still come that someone must route: chunks in
    /// flight, or a pool shutting down (its workers' deaths).
    fn has_work(&self) -> bool {
        let state = self.lock();
        !state.chunks.is_empty() || state.phase != Phase::Running
    }

    /// Parks the result thread if no report is expected (see `has_work`).
    /// Parked first, then looked: work submitted meanwhile kicks it back.
    pub(super) fn park_if_idle(&self) {
        if self.has_work() {
            return;
        }
        self.routing.lock().parked = true;
        if self.has_work() {
            self.kick();
        }
    }

    /// Sends the result thread back to the queue (once no caller routes).
    pub(crate) fn kick(&self) {
        let mut r = self.routing.lock();
        if r.caller {
            r.kick_pending = true;
        } else if r.parked {
            r.parked = false;
            self.routing.changed.notify_all();
        }
    }

    /// Hands `chunk`'s outcome to its job: here, unless the job has
    /// callbacks and this is not the result thread. The result thread
    /// parks first if nothing else is in flight.
    pub(super) fn deliver(&self, chunk: Chunk, outcome: Result<Vec<u8>>) {
        let here = on_result_thread();
        if here {
            self.park_if_idle();
        }
        if chunk.sink.has_callbacks() && !here {
            self.defer(Deferred::Deliver(chunk, outcome));
        } else {
            chunk.sink.deliver(chunk.seq, chunk.start, chunk.n, outcome);
        }
    }

    /// Hands `work` to the result thread (which runs it even while parked).
    pub(super) fn defer(&self, work: Deferred) {
        self.routing.lock().deferred.push_back(work);
        self.routing.changed.notify_all();
    }

    /// Runs the work deferred to the result thread; then, if a caller
    /// routes, wakes it: its own result may have been settled here.
    fn run_deferred(&self) {
        let mut ran = false;
        loop {
            let Some(work) = self.routing.lock().deferred.pop_front() else {
                break;
            };
            ran = true;
            match work {
                Deferred::Deliver(c, outcome) => c.sink.deliver(c.seq, c.start, c.n, outcome),
                Deferred::Report(report) => self.route(report),
            }
        }
        if ran {
            self.wake_routing_caller();
        }
    }

    /// Puts a `Wake` on the queue if a caller routes (it sleeps on the
    /// queue, not on its result).
    fn wake_routing_caller(&self) {
        if self.routing.lock().caller {
            let _ = self.results.try_put(&Report::Wake);
        }
    }

    /// The result thread: waits until it should take reports off the queue
    /// (true), running deferred work meanwhile, or until its work is over
    /// (false).
    pub(super) fn wait_for_duty(&self) -> bool {
        loop {
            self.run_deferred();
            if self.result_thread_may_end() {
                self.run_deferred();
                return false;
            }
            let r = self.routing.lock();
            if !r.deferred.is_empty() {
                continue;
            }
            if !r.parked {
                return true;
            }
            let (mut r, waited) = self
                .routing
                .changed
                .wait_timeout(r, TICK)
                .unwrap_or_else(PoisonError::into_inner);
            if waited.timed_out() && r.parked && !r.caller {
                // A safety net: someone forgot to kick.
                drop(r);
                if self.has_work() {
                    r = self.routing.lock();
                    r.parked = r.caller;
                }
            }
        }
    }

    /// Takes reports off the queue in this (calling) thread until `ready()`
    /// holds, if no other caller does: see the module docs. `Ok` when
    /// `ready()` holds or when this thread cannot route (then it waits for
    /// its result as before); the errors are those of a blocked `get`.
    pub(crate) fn route_until(
        &self,
        deadline: Option<Instant>,
        ready: impl Fn() -> bool,
    ) -> Result<()> {
        if ready() || on_result_thread() {
            return Ok(());
        }
        let _route = {
            let mut r = self.routing.lock();
            if r.caller || !r.parked {
                return Ok(());
            }
            r.caller = true;
            CallerRoute { scheduler: self }
        };
        let scope = interrupt::Scope::enter();
        loop {
            if ready() {
                return Ok(());
            }
            if scope.interrupted() {
                self.stop(Error::Interrupted);
                return Err(Error::Interrupted);
            }
            let mut slice = INTERRUPT_POLL;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout);
                }
                slice = slice.min(left);
            }
            // Reads no clock when a report is already there.
            match self.results.get_timeout(slice) {
                Ok(Report::InitFailed { worker, message }) => {
                    self.defer(Deferred::Report(Report::InitFailed { worker, message }));
                }
                Ok(report) => self.route(report),
                Err(
                    mp_queue::Error::Empty | mp_queue::Error::Torn | mp_queue::Error::Decode(_),
                ) => {}
                // The result thread reports it; wait for the result as before.
                Err(_) => return Ok(()),
            }
        }
    }
}
