//! When a blocking call gives up.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// When a blocking call gives up: never, or some time after it first has
/// to wait.
///
/// The clock is read lazily, the first time a wait needs the time left: a
/// call that finds what it waits for at once (an item to get, room to put,
/// a free lock, a readable socket) never calls `Instant::now`, and a zero
/// timeout never does. So a timeout counts from the moment the call first
/// has to wait. One deadline is shared (by reference) by every wait of a
/// call, so the waits together take at most the timeout.
#[derive(Clone, Debug)]
pub struct Deadline(Cell<When>);

#[derive(Clone, Copy, Debug)]
enum When {
    Never,
    /// Not started: this long after the first look at the clock.
    In(Duration),
    At(Instant),
}

impl Deadline {
    /// A deadline that never passes.
    pub fn never() -> Deadline {
        Deadline(Cell::new(When::Never))
    }

    /// `timeout` from the first wait; too large to represent means never.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Cell::new(When::In(timeout)))
    }

    /// Passes at `at`.
    pub fn at(at: Instant) -> Deadline {
        Deadline(Cell::new(When::At(at)))
    }

    /// [`after`](Self::after) for `Some`, [`never`](Self::never) for `None`.
    pub fn from_timeout(timeout: Option<Duration>) -> Deadline {
        timeout.map_or_else(Deadline::never, Deadline::after)
    }

    /// The instant it passes (`None`: never), starting the clock.
    pub fn instant(&self) -> Option<Instant> {
        match self.0.get() {
            When::Never => None,
            When::In(timeout) => {
                let at = Instant::now().checked_add(timeout);
                self.0.set(at.map_or(When::Never, When::At));
                at
            }
            When::At(at) => Some(at),
        }
    }

    /// Time left (`None`: forever); zero once passed.
    pub fn remaining(&self) -> Option<Duration> {
        match self.0.get() {
            When::Never => None,
            When::In(timeout) if timeout.is_zero() => Some(Duration::ZERO),
            When::In(timeout) => {
                // Just started: all of it is left.
                self.instant().map(|_| timeout)
            }
            When::At(at) => Some(at.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether it has passed (a zero timeout has, without a clock read).
    pub fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// Whether it never passes (starts the clock of a timeout, to tell one
    /// too large to represent).
    pub fn is_never(&self) -> bool {
        self.instant().is_none()
    }

    /// The earlier of two deadlines (starting both clocks).
    pub fn min(&self, other: &Deadline) -> Deadline {
        match (self.instant(), other.instant()) {
            (Some(a), Some(b)) => Deadline::at(a.min(b)),
            (Some(at), None) | (None, Some(at)) => Deadline::at(at),
            (None, None) => Deadline::never(),
        }
    }

    /// Whether the clock was read for this deadline.
    pub fn started(&self) -> bool {
        matches!(self.0.get(), When::At(_))
    }
}

#[cfg(test)]
mod tests {
    use super::Deadline;
    use std::time::{Duration, Instant};

    #[test]
    fn a_deadline_starts_at_its_first_look_at_the_clock() {
        let d = Deadline::after(Duration::from_secs(5));
        assert!(!d.started());
        assert_eq!(d.remaining(), Some(Duration::from_secs(5)));
        assert!(d.started());
        assert!(
            d.remaining()
                .is_some_and(|left| left <= Duration::from_secs(5))
        );
        assert!(!d.passed());
        // Zero is passed without a clock; too far to represent is never.
        let zero = Deadline::after(Duration::ZERO);
        assert!(zero.passed() && !zero.started());
        assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
        assert!(Deadline::after(Duration::MAX).is_never());
        assert_eq!(Deadline::never().remaining(), None);
        assert_eq!(Deadline::from_timeout(None).remaining(), None);
    }

    #[test]
    fn min_takes_the_earlier_of_two() {
        let soon = Instant::now() + Duration::from_millis(10);
        let d = Deadline::after(Duration::from_secs(60)).min(&Deadline::at(soon));
        assert_eq!(d.instant(), Some(soon));
        assert_eq!(
            Deadline::never().min(&Deadline::at(soon)).instant(),
            Some(soon)
        );
        assert!(Deadline::never().min(&Deadline::never()).is_never());
    }
}
