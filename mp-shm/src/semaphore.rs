//! `Semaphore` and `BoundedSemaphore` on a futex counter in shared memory.

use std::fmt;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

use mp_internal::{Deadline, futex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::object::{self, Kind};
use crate::sys::layout::SemaphoreState;
use crate::sys::memory::View;

/// Polls with exponential backoff before a futex sleep (as `Lock`).
const SPINS: u32 = 24;
const SPIN_SHIFT: u32 = 6;

/// The counter shared by both semaphore kinds.
#[derive(Clone)]
struct Counter {
    view: View<SemaphoreState>,
}

impl Counter {
    fn new(kind: Kind, value: u32, max: u32) -> Result<Counter> {
        let view = object::create::<SemaphoreState>(kind, 0)?;
        view.get().value.store(value, Relaxed);
        view.get().max.store(max, SeqCst);
        Ok(Counter { view })
    }

    fn try_take(&self) -> bool {
        let st = self.view.get();
        let mut v = st.value.load(Relaxed);
        while v > 0 {
            match st.value.compare_exchange_weak(v, v - 1, SeqCst, Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    fn acquire(&self, deadline: &Deadline) -> bool {
        let st = self.view.get();
        if self.try_take() {
            return true;
        }
        // A zero timeout is passed without a clock read: one attempt.
        if deadline.passed() {
            return false;
        }
        for spin in 0..mp_internal::spin::rounds(SPINS) {
            for _ in 0..(1u32 << spin.min(SPIN_SHIFT)) {
                std::hint::spin_loop();
            }
            if self.try_take() {
                return true;
            }
        }
        loop {
            if self.try_take() {
                return true;
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                return false;
            }
            st.waiters.fetch_add(1, SeqCst);
            if st.value.load(SeqCst) == 0 {
                futex::wait(&st.value, 0, left);
            }
            st.waiters.fetch_sub(1, SeqCst);
        }
    }

    fn release(&self, n: u32) -> std::result::Result<(), ()> {
        let st = self.view.get();
        let max = st.max.load(Relaxed);
        let mut v = st.value.load(Relaxed);
        loop {
            let new = v.checked_add(n).filter(|new| *new <= max).ok_or(())?;
            match st.value.compare_exchange_weak(v, new, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if st.waiters.load(SeqCst) > 0 {
            futex::wake(&st.value, n);
        }
        Ok(())
    }

    fn value(&self) -> u32 {
        self.view.get().value.load(Relaxed)
    }
}

macro_rules! semaphore {
    ($name:ident, $guard:ident, $kind:expr) => {
        #[doc = concat!("A held unit of a [`", stringify!($name), "`]; released on drop.")]
        #[must_use = "the semaphore is released when the guard is dropped"]
        pub struct $guard<'a> {
            sem: &'a $name,
        }

        impl $guard<'_> {
            /// Releases the unit now (the same as dropping the guard).
            pub fn release(self) {}

            /// Keeps the unit taken: the counter stays lower until someone
            /// calls `release` on the semaphore (producer/consumer style).
            pub fn forget(self) {
                std::mem::forget(self);
            }
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                let _ = self.sem.counter.release(1);
            }
        }

        impl fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($guard)).finish_non_exhaustive()
            }
        }

        impl $name {
            /// Blocks until the counter is positive and decrements it
            /// (Python's `acquire()`).
            pub fn acquire(&self) -> $guard<'_> {
                self.counter.acquire(&Deadline::never());
                $guard { sem: self }
            }

            /// Waits at most `timeout`; [`ErrorKind::Timeout`] if the counter
            /// stayed at zero.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<$guard<'_>> {
                self.take(&Deadline::after(timeout))
            }

            /// Decrements only if the counter is positive (Python's
            /// `acquire(False)`); [`ErrorKind::Timeout`] otherwise.
            pub fn try_acquire(&self) -> Result<$guard<'_>> {
                self.take(&Deadline::after(Duration::ZERO))
            }

            fn take(&self, deadline: &Deadline) -> Result<$guard<'_>> {
                if self.counter.acquire(deadline) {
                    Ok($guard { sem: self })
                } else {
                    Err(Error::new(
                        ErrorKind::Timeout,
                        "timed out waiting for the semaphore",
                    ))
                }
            }

            /// The counter's current value (Python's `get_value()`).
            pub fn get_value(&self) -> u32 {
                self.counter.value()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("value", &self.get_value())
                    .finish()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                object::serialize_view(&self.counter.view, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<$name, D::Error> {
                object::deserialize_view(d, $kind).map(|view| $name {
                    counter: Counter { view },
                })
            }
        }
    };
}

/// A process-shared counting semaphore (Python's `multiprocessing.Semaphore`).
///
/// [`acquire`](Semaphore::acquire) returns a guard that gives the unit back
/// on drop (Python's `with sem:`); [`SemaphoreGuard::forget`] plus
/// [`release`](Semaphore::release) give the free-standing
/// `acquire()`/`release()` of producer/consumer code, from any process.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let sem = ", crate::mp_crate!(shm), "::Semaphore::new(2)?;")]
/// let a = sem.acquire();
/// let _b = sem.acquire();
/// assert!(sem.try_acquire().is_err());
/// drop(a);
/// assert_eq!(sem.get_value(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    counter: Counter,
}

impl Semaphore {
    /// A semaphore whose counter starts at `value` (Python's `Semaphore(value)`).
    pub fn new(value: u32) -> Result<Semaphore> {
        Ok(Semaphore {
            counter: Counter::new(Kind::Semaphore, value, u32::MAX)?,
        })
    }

    /// Increments the counter, waking one waiter (Python's `release()`).
    /// Overflowing `u32` is [`ErrorKind::ReleasedTooManyTimes`].
    pub fn release(&self) -> Result<()> {
        self.counter.release(1).map_err(|()| {
            Error::new(
                ErrorKind::ReleasedTooManyTimes,
                "semaphore counter overflow",
            )
        })
    }
}

semaphore!(Semaphore, SemaphoreGuard, Kind::Semaphore);

/// A semaphore that refuses to be released above its initial value
/// (Python's `multiprocessing.BoundedSemaphore`).
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
#[doc = concat!("let sem = ", crate::mp_crate!(shm), "::BoundedSemaphore::new(1)?;")]
#[doc = concat!("assert_eq!(sem.release().unwrap_err().kind(), ", crate::mp_crate!(shm), "::ErrorKind::ReleasedTooManyTimes);")]
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    counter: Counter,
}

impl BoundedSemaphore {
    /// A semaphore whose counter starts at, and may never exceed, `value`.
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            counter: Counter::new(Kind::BoundedSemaphore, value, value)?,
        })
    }

    /// Increments the counter; past the initial value it is
    /// [`ErrorKind::ReleasedTooManyTimes`] (Python's `ValueError`) and the
    /// counter is unchanged.
    pub fn release(&self) -> Result<()> {
        self.counter.release(1).map_err(|()| {
            Error::new(
                ErrorKind::ReleasedTooManyTimes,
                "BoundedSemaphore released too many times",
            )
        })
    }
}

semaphore!(
    BoundedSemaphore,
    BoundedSemaphoreGuard,
    Kind::BoundedSemaphore
);
