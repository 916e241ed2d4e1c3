//! The typed proxies: client-side views of server objects.

mod dict;
mod list;
mod namespace;
mod queue;
mod shared;
mod sync;
mod value;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use dict::DictProxy;
pub use list::ListProxy;
pub use namespace::Namespace;
pub use queue::{JoinableQueueProxy, QueueProxy};
pub use shared::SharedProxy;
pub use sync::{
    BarrierProxy, ConditionProxy, EventProxy, LockGuard, LockProxy, RLockProxy, SemaphoreProxy,
};
pub use value::{ArrayProxy, ValueProxy};

use crate::error::Result;
use crate::object_ref::unexpected;
use crate::wire::{Answer, Wait};

pub(crate) fn unit(answer: Answer) -> Result<()> {
    match answer {
        Answer::Unit => Ok(()),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn boolean(answer: Answer) -> Result<bool> {
    match answer {
        Answer::Bool(b) => Ok(b),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn count(answer: Answer) -> Result<u64> {
    match answer {
        Answer::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

/// A timed wait (a zero timeout is a non-blocking attempt).
pub(crate) fn wait_for(timeout: Duration) -> Wait {
    if timeout.is_zero() {
        Wait::Now
    } else {
        Wait::For(timeout)
    }
}

/// This thread's id for lock ownership (unique within the process).
pub(crate) fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
}

/// Converts a list length or index for the wire.
pub(crate) fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
