//! Who holds a lock: this process's (or thread's) id and start time, and
//! whether a recorded holder still exists (shared with mp-pipe's locks, so
//! it lives in `mp_internal::identity`).

pub(crate) use mp_internal::identity::{is_alive, process, thread};
