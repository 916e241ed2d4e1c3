//! This process's mp state, in one place that a forked child can replace.
//!
//! A `fork` copies memory but only the calling thread: a lock another thread
//! held at that instant stays locked forever in the child. So the child never
//! touches its copy of this state. It installs a fresh one instead (its
//! identity comes from its job, nothing else of the parent's state is
//! needed), and the copy is simply never used again.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::children::Child;
use crate::current::{Current, Identity};
use crate::forkserver;
use crate::starter::Starter;
use crate::sys::Leaked;

pub(crate) struct State {
    pub(crate) current: Mutex<Option<Current>>,
    pub(crate) children: Mutex<Vec<Arc<Child>>>,
    pub(crate) forkserver: Mutex<Option<forkserver::Handle>>,
    pub(crate) starter: Mutex<Option<Starter>>,
}

impl State {
    fn new(current: Option<Current>) -> State {
        State {
            current: Mutex::new(current),
            children: Mutex::new(Vec::new()),
            forkserver: Mutex::new(None),
            starter: Mutex::new(None),
        }
    }
}

static STATE: Leaked<State> = Leaked::new();

/// This process's state.
pub(crate) fn get() -> &'static State {
    STATE.get_or_init(|| State::new(None))
}

/// In a freshly forked child: start over as `identity`, without locking
/// (or dropping) anything the parent's threads may have held.
pub(crate) fn replace_in_child(identity: Identity) {
    let mut current = None;
    crate::current::become_child(&mut current, identity);
    STATE.replace(State::new(current));
}

/// Locks one of the state's mutexes; a panic elsewhere never makes the
/// state unusable (every critical section leaves it consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
