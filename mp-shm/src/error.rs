//! The crate's error type: [`Error`] with an [`ErrorKind`], and the
//! lock results [`OwnerDied`], [`AcquireError`] and [`LockResult`].

use std::fmt;
use std::io;

/// What went wrong, for matching (see [`Error::kind`]).
///
/// Python raises `FileExistsError`, `FileNotFoundError`, `ValueError`,
/// `RuntimeError`, `AssertionError` or `threading.BrokenBarrierError` for
/// these; here they are one enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `SharedMemory::create` with a name that exists (`FileExistsError`).
    AlreadyExists,
    /// `SharedMemory::open` of a name that does not exist (`FileNotFoundError`).
    NotFound,
    /// A segment of size 0 (`ValueError`).
    ZeroSize,
    /// A segment name that is empty, too long or contains `/` or non-printable
    /// characters.
    InvalidName,
    /// `unlink` of a segment this handle (or a clone) already unlinked.
    AlreadyUnlinked,
    /// A handle decoded as another type, or attached to memory of another
    /// shape (size, element type, kind of object).
    WrongType,
    /// An index or range outside the object (`IndexError`).
    OutOfRange,
    /// A `ShareableList` item longer than its slot, or bytes longer than
    /// an `Array<u8>` (`ValueError`).
    TooLong,
    /// The range is leased by someone else (or, for a lease of an
    /// `Array`, the array's lock is held): the lease or copy was refused.
    Leased,
    /// Every lease entry of the object is taken (64 leases at once).
    TooManyLeases,
    /// The object cannot be leased: a `ShareableList`'s segment, or a
    /// segment created by another program (it has no lease table).
    NotLeasable,
    /// A lease at a byte offset that is not a multiple of the element's
    /// alignment.
    Misaligned,
    /// A `_timeout` call ran out of time, or a `try_` call would block.
    Timeout,
    /// The previous holder of a lock died while holding it; the data it
    /// protected may be half-updated.
    OwnerDied,
    /// An `RLock` released by a thread that does not hold it.
    NotOwner,
    /// A lock released while not held (`ValueError`/`RuntimeError`).
    NotLocked,
    /// `Lock::release` of a lock held by a `Value`/`Array` guard, which hands
    /// out references that must stay exclusive.
    HeldByGuard,
    /// `BoundedSemaphore::release` past its initial value (`ValueError`).
    ReleasedTooManyTimes,
    /// A `Condition` used without holding its lock (`RuntimeError`).
    LockNotHeld,
    /// The barrier is broken, or broke while waiting (`BrokenBarrierError`).
    BrokenBarrier,
    /// The handle was closed.
    Closed,
    /// Stored data is not valid (e.g. a `ShareableList` string that is not
    /// UTF-8).
    InvalidData,
    /// An argument out of its domain (e.g. a barrier of 0 parties).
    InvalidArgument,
    /// Any other operating-system error.
    Io,
}

/// The error of every fallible call in this crate.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
}

/// `Result<T, mp_shm::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, e: io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            message: context.into(),
            source: Some(e),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(e) = &self.source {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Error {
        Error::io("system call failed", e.into())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::NotFound | ErrorKind::AlreadyUnlinked => io::ErrorKind::NotFound,
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::InvalidName
            | ErrorKind::ZeroSize
            | ErrorKind::OutOfRange
            | ErrorKind::TooLong
            | ErrorKind::Misaligned
            | ErrorKind::InvalidArgument => io::ErrorKind::InvalidInput,
            ErrorKind::Leased | ErrorKind::TooManyLeases => io::ErrorKind::WouldBlock,
            ErrorKind::NotLeasable => io::ErrorKind::Unsupported,
            ErrorKind::WrongType | ErrorKind::InvalidData => io::ErrorKind::InvalidData,
            ErrorKind::Io => match &e.source {
                Some(s) => s.kind(),
                None => io::ErrorKind::Other,
            },
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The lock was acquired, but its previous holder died holding it (like
/// std's `PoisonError`, or `EOWNERDEAD` of a robust pthread mutex).
///
/// The guard inside is valid: take it with [`into_inner`](OwnerDied::into_inner),
/// repair the protected data if needed and call the guard's
/// `mark_consistent()`. Until someone does, every acquirer of the lock gets
/// `OwnerDied` again.
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> OwnerDied<G> {
        OwnerDied { guard }
    }

    /// The guard of the (now held) lock.
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// The guard, borrowed.
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// The guard, mutably borrowed.
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }

    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDied<H> {
        OwnerDied {
            guard: f(self.guard),
        }
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied").finish_non_exhaustive()
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous holder of the lock died while holding it")
    }
}

impl<G> From<OwnerDied<G>> for Error {
    fn from(e: OwnerDied<G>) -> Error {
        Error::new(ErrorKind::OwnerDied, e.to_string())
    }
}

/// `?` from a lock call into an error that does not borrow the lock.
///
/// [`OwnerDied`] and [`AcquireError`] hold the guard, which borrows the
/// lock, so they are not `std::error::Error` (a `Box<dyn Error>` must not
/// borrow anything). Instead they convert, guard released, into
/// [`Error`] (kind [`ErrorKind::OwnerDied`] or [`ErrorKind::Timeout`]),
/// `Box<dyn Error>`, `Box<dyn Error + Send + Sync>` and `io::Error`, so
/// `lock.acquire()?` works in `fn main() -> Result<(), Box<dyn Error>>`.
/// Dropping the guard without `mark_consistent()` leaves the lock
/// marked, so the next acquirer is told the owner died too.
macro_rules! impl_into_owned_errors {
    ($($ty:ident),*) => {$(
        impl<'a, G> From<$ty<G>> for Box<dyn std::error::Error + 'a> {
            fn from(e: $ty<G>) -> Self {
                Box::new(Error::from(e))
            }
        }

        impl<'a, G> From<$ty<G>> for Box<dyn std::error::Error + Send + Sync + 'a> {
            fn from(e: $ty<G>) -> Self {
                Box::new(Error::from(e))
            }
        }

        impl<G> From<$ty<G>> for io::Error {
            fn from(e: $ty<G>) -> io::Error {
                Error::from(e).into()
            }
        }
    )*};
}

impl_into_owned_errors!(OwnerDied, AcquireError);

/// The result of a blocking acquire: the guard, or the guard inside
/// [`OwnerDied`].
pub type LockResult<G> = std::result::Result<G, OwnerDied<G>>;

/// Why `try_acquire`/`acquire_timeout` returned without a clean guard.
pub enum AcquireError<G> {
    /// The lock is held by someone else (Python's `acquire(False)` /
    /// `acquire(timeout=t)` returning `False`).
    Timeout,
    /// Acquired, but the previous holder died (see [`OwnerDied`]).
    OwnerDied(OwnerDied<G>),
}

impl<G> AcquireError<G> {
    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> AcquireError<H> {
        match self {
            AcquireError::Timeout => AcquireError::Timeout,
            AcquireError::OwnerDied(e) => AcquireError::OwnerDied(e.map(f)),
        }
    }
}

impl<G> From<OwnerDied<G>> for AcquireError<G> {
    fn from(e: OwnerDied<G>) -> AcquireError<G> {
        AcquireError::OwnerDied(e)
    }
}

impl<G> fmt::Debug for AcquireError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Timeout => f.write_str("Timeout"),
            AcquireError::OwnerDied(e) => f.debug_tuple("OwnerDied").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for AcquireError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Timeout => f.write_str("timed out waiting for the lock"),
            AcquireError::OwnerDied(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<G> From<AcquireError<G>> for Error {
    fn from(e: AcquireError<G>) -> Error {
        match e {
            AcquireError::Timeout => {
                Error::new(ErrorKind::Timeout, "timed out waiting for the lock")
            }
            AcquireError::OwnerDied(e) => e.into(),
        }
    }
}
