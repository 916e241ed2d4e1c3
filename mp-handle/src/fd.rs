//! [`Fd`]: a descriptor inside a serde value, as an index into the side
//! table of the `encode`/`decode` call in progress.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An owned file descriptor that can be part of a serde value sent to another
/// mp process.
///
/// Serializing an `Fd` duplicates the descriptor into the side table of the
/// [`encode`](crate::encode) call in progress; deserializing takes it out of
/// the table given to [`decode`](crate::decode). Outside those two calls
/// (plain `postcard::to_vec`, `serde_json`, ...) serialization fails with a
/// clear error instead of sending a number that means nothing elsewhere.
#[derive(Debug)]
pub struct Fd(OwnedFd);

impl Fd {
    /// Wraps an owned descriptor.
    pub fn new(fd: OwnedFd) -> Fd {
        Fd(fd)
    }

    /// Unwraps the descriptor.
    pub fn into_owned(self) -> OwnedFd {
        self.0
    }

    /// Serializes a borrowed descriptor as an [`Fd`] would serialize.
    ///
    /// This lets a type that keeps its descriptor in some other field
    /// (`OwnedFd`, `File`, `UnixStream`) implement `Serialize` without giving
    /// the descriptor up.
    pub fn serialize_borrowed<S: Serializer>(
        fd: BorrowedFd<'_>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let index = with_table(|table| match table {
            Some(Table::Collect(fds)) => {
                let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)
                    .map_err(|e| S::Error::custom(format!("cannot duplicate descriptor: {e}")))?;
                fds.push(dup);
                u32::try_from(fds.len() - 1).map_err(|_| S::Error::custom("too many descriptors"))
            }
            Some(Table::Inspect(fds)) => {
                fds.push(fd.as_raw_fd());
                u32::try_from(fds.len() - 1).map_err(|_| S::Error::custom("too many descriptors"))
            }
            _ => {
                REFUSED.with(|n| n.set(n.get().wrapping_add(1)));
                Err(S::Error::custom(
                    "an OS handle can only be serialized by an mp transport (mp_handle::encode)",
                ))
            }
        })?;
        serializer.serialize_newtype_struct(TOKEN, &index)
    }
}

/// A borrowed descriptor that serializes as an [`Fd`] would, for the wire
/// form of a type that keeps its descriptor (and gives it up only on drop).
///
/// ```
/// use std::os::fd::{AsFd, OwnedFd};
#[doc = concat!("use ", crate::mp_crate!(handle), "::{Fd, FdRef};")]
///
/// #[derive(serde::Serialize)]
/// struct Sent<'a> {
///     fd: FdRef<'a>,
///     flags: u8,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (r, _w) = std::os::unix::net::UnixStream::pair()?;
/// let kept = OwnedFd::from(r);
#[doc = concat!("let (bytes, fds) = ", crate::mp_crate!(handle), "::encode(&Sent { fd: FdRef(kept.as_fd()), flags: 1 })?;")]
#[doc = concat!("let (fd, flags): (Fd, u8) = ", crate::mp_crate!(handle), "::decode(&bytes, fds)?;")]
/// assert_eq!(flags, 1);
/// # drop(fd);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FdRef<'a>(pub BorrowedFd<'a>);

impl Serialize for FdRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Fd::serialize_borrowed(self.0, serializer)
    }
}

impl From<OwnedFd> for Fd {
    fn from(fd: OwnedFd) -> Fd {
        Fd(fd)
    }
}

impl From<Fd> for OwnedFd {
    fn from(fd: Fd) -> OwnedFd {
        fd.0
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The newtype name marks handle indexes in formats that keep names.
const TOKEN: &str = "mp_handle::Fd";

impl Serialize for Fd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Fd::serialize_borrowed(self.0.as_fd(), serializer)
    }
}

impl<'de> Deserialize<'de> for Fd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fd, D::Error> {
        struct Index(u32);
        impl<'de> Deserialize<'de> for Index {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Index, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Index;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an OS handle index")
                    }
                    fn visit_newtype_struct<D: Deserializer<'de>>(
                        self,
                        d: D,
                    ) -> Result<Index, D::Error> {
                        u32::deserialize(d).map(Index)
                    }
                }
                d.deserialize_newtype_struct(TOKEN, V)
            }
        }
        let Index(index) = Index::deserialize(deserializer)?;
        with_table(|table| match table {
            Some(Table::Provide(fds)) => match fds.get_mut(index as usize).and_then(Option::take) {
                Some(fd) => Ok(Fd(fd)),
                None => Err(D::Error::custom(format!(
                    "OS handle #{index} is missing or was already taken (the message carried {} handles)",
                    fds.len()
                ))),
            },
            _ => Err(D::Error::custom(
                "an OS handle can only be deserialized by an mp transport (mp_handle::decode)",
            )),
        })
    }
}

/// The side table of the `encode` or `decode` call running on this thread.
pub(crate) enum Table {
    Collect(Vec<OwnedFd>),
    Provide(Vec<Option<OwnedFd>>),
    /// Records the raw numbers only (see `tracked::raw_fds`).
    Inspect(Vec<RawFd>),
}

thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
    /// How many handles this thread refused to serialize outside a
    /// transport (see [`refused_handles`]).
    static REFUSED: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f`, a serialization by something other than an mp transport (a
/// pool task's postcard frame, say), and also returns whether an OS handle
/// (a `Queue`, `Connection`, `Lock`, ... or an [`Fd`]) refused to be
/// serialized during it.
///
/// The handle's own error message does not survive every serializer
/// (postcard keeps only "Serde Serialization Error"), so the caller learns
/// here that it should say what to do instead.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(handle), "::Fd;")]
///
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fd = Fd::from(std::os::fd::OwnedFd::from(a));
#[doc = concat!("let (result, refused) = ", crate::mp_crate!(handle), "::refused_handles(|| postcard::to_allocvec(&fd));")]
/// assert!(result.is_err() && refused);
#[doc = concat!("let (result, refused) = ", crate::mp_crate!(handle), "::refused_handles(|| postcard::to_allocvec(&7u8));")]
/// assert!(result.is_ok() && !refused);
/// ```
pub fn refused_handles<R>(f: impl FnOnce() -> R) -> (R, bool) {
    let before = REFUSED.with(Cell::get);
    let result = f();
    (result, REFUSED.with(Cell::get) != before)
}

/// Runs `f` on this thread's table (`None`: none is installed, or the
/// thread is past its thread-locals' destruction, where a value sent from
/// another thread-local's destructor still encodes if it holds no handle).
fn with_table<R>(f: impl FnOnce(Option<&mut Table>) -> R) -> R {
    let mut f = Some(f);
    match TABLE.try_with(|t| (f.take().expect("called once"))(t.borrow_mut().as_mut())) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called"))(None),
    }
}

/// Installs `table` for this thread's calls; returns the one it replaces
/// (`table` itself when the thread's table is gone: nothing was installed).
#[inline]
pub(crate) fn install(table: Table) -> Option<Table> {
    let mut table = Some(table);
    match TABLE.try_with(|t| t.borrow_mut().replace(table.take().expect("called once"))) {
        Ok(outer) => outer,
        Err(_) => table,
    }
}

/// Puts `outer` (from [`install`]) back; returns the table it replaces
/// (`outer` itself when the thread's table is gone).
#[inline]
pub(crate) fn install_back(outer: Option<Table>) -> Option<Table> {
    let mut outer = Some(outer);
    match TABLE
        .try_with(|t| std::mem::replace(&mut *t.borrow_mut(), outer.take().expect("called once")))
    {
        Ok(table) => table,
        Err(_) => outer.take().expect("not called"),
    }
}

/// Installs `table` for the duration of `f` and returns it afterwards.
///
/// Nested calls (a value whose `Serialize` itself calls `encode`) keep their
/// own tables: the outer one is put back when the inner call ends.
#[inline]
pub(crate) fn scoped<R>(table: Table, f: impl FnOnce() -> R) -> (R, Table) {
    let outer = install(table);
    let result = f();
    let table = install_back(outer);
    (
        result,
        table.expect("handle table disappeared during a scoped call"),
    )
}
