//! `Event`: a futex flag in shared memory.

use std::fmt;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use mp_internal::{Deadline, futex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Result;
use crate::object::{self, Kind};
use crate::sys::layout::EventState;
use crate::sys::memory::View;

/// A process-shared flag that processes can wait for (Python's
/// `multiprocessing.Event`).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let ev = ", crate::mp_crate!(shm), "::Event::new()?;")]
/// assert!(!ev.wait_timeout(std::time::Duration::from_millis(1)));
/// ev.set();
/// ev.wait();
/// assert!(ev.is_set());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Event {
    view: View<EventState>,
}

impl Event {
    /// A new, clear event.
    pub fn new() -> Result<Event> {
        Ok(Event {
            view: object::create(Kind::Event, 0)?,
        })
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let st = self.view.get();
        st.flag.store(1, SeqCst);
        if st.waiters.load(SeqCst) > 0 {
            futex::wake_all(&st.flag);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.view.get().flag.store(0, SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.view.get().flag.load(SeqCst) != 0
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        self.wait_until(&Deadline::never());
    }

    /// Waits at most `timeout`; returns whether the flag is set (Python's
    /// `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(&Deadline::after(timeout))
    }

    fn wait_until(&self, deadline: &Deadline) -> bool {
        let st = self.view.get();
        if self.is_set() {
            return true;
        }
        for _ in 0..mp_internal::spin::rounds(100) {
            if self.is_set() {
                return true;
            }
            std::hint::spin_loop();
        }
        loop {
            if self.is_set() {
                return true;
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                return false;
            }
            st.waiters.fetch_add(1, SeqCst);
            if st.flag.load(SeqCst) == 0 {
                futex::wait(&st.flag, 0, left);
            }
            st.waiters.fetch_sub(1, SeqCst);
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        object::serialize_view(&self.view, s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Event, D::Error> {
        object::deserialize_view(d, Kind::Event).map(|view| Event { view })
    }
}
