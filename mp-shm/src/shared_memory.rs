//! `SharedMemory`: named POSIX shared memory segments (`/dev/shm`), and
//! the lease table mp keeps at the end of the ones it creates.

use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mp_handle::Fd;
use mp_internal::Deadline;
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm::OFlags;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::lease::Leases;
use crate::object::page_round;
use crate::sys::Shareable;
use crate::sys::layout::LeaseTable;
use crate::sys::leased::Lease;
use crate::sys::memory::Segment;
use crate::tracker;

/// The longest name accepted (the kernel's limit is 255 with the slash).
pub const MAX_NAME_LEN: usize = 250;

/// A named block of shared memory (Python's
/// `multiprocessing.shared_memory.SharedMemory`).
///
/// [`create`](SharedMemory::create) makes a new segment (with a generated
/// `psm_…` name when none is given); [`open`](SharedMemory::open) attaches
/// to an existing one by name from any process. Reads and writes copy
/// ([`read_at`](SharedMemory::read_at), [`write_at`](SharedMemory::write_at))
/// with atomic word accesses, which is race-free while other processes
/// write; zero-copy access is `unsafe` ([`as_slice`](SharedMemory::as_slice)).
///
/// Lifetime, unlike CPython 3.11:
///
/// - the handle that created the segment unlinks it when dropped, unless
///   [`persist`](SharedMemory::persist)ed;
/// - handles that only attached (`open`, clones, handles received by a
///   child) never unlink it unless asked with [`unlink`](SharedMemory::unlink);
/// - if the creating process dies without unlinking (even by SIGKILL), a
///   cleanup tracker process unlinks its segments.
///
/// Give a child a clone (`Process::new(f, (shm.clone(),))`) or the name.
///
/// Unlike the memory behind [`Value`](crate::Value), a named segment cannot
/// be sealed against resizing: a process that truncates it (through any
/// descriptor, or `/dev/shm`) makes the other processes' accesses beyond
/// the new end fault with `SIGBUS`, as in CPython.
///
/// [`lease`](SharedMemory::lease) hands a range to one process as
/// `&mut [T]`, zero-copy and lock-free, from any handle of any process
/// (see [`Lease`]): the numpy-over-`SharedMemory` pattern, each worker
/// filling its own slice. The lease table lives in the segment's file,
/// after the `size` bytes: a segment made by mp is longer on disk than
/// `size` (`real_size()` plus 8 KiB with 4 KiB pages), which CPython's
/// `SharedMemory(name).size` shows. A segment made by another program has
/// no table and cannot be leased ([`ErrorKind::NotLeasable`]).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(shm), "::SharedMemory;")]
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
/// let shm = SharedMemory::create(None, 1024)?;
/// shm.write_at(0, b"hello")?;
/// let other = SharedMemory::open(shm.name())?;
/// let mut buf = [0; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok(())
/// # }
/// ```
pub struct SharedMemory {
    seg: Option<Arc<Segment>>,
    /// The lease table (`None` for a segment made by another program, and
    /// after `close`).
    leases: Option<Leases>,
    name: String,
    size: usize,
    /// This handle created the segment and unlinks it on drop.
    owner: bool,
    /// Shared by the clones of this process's handles.
    unlinked: Arc<AtomicBool>,
}

fn check_name(name: &str) -> Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty()
        || bare.len() > MAX_NAME_LEN
        || bare == "."
        || bare == ".."
        || !bare
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'/')
    {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!(
                "invalid shared memory name {name:?}: use 1 to {MAX_NAME_LEN} printable ASCII characters without '/' or spaces"
            ),
        ));
    }
    Ok(bare)
}

/// `psm_` and 16 hex digits: a random per-process seed (one `getrandom`)
/// stirred with a counter by splitmix64. A name someone else took is
/// simply skipped (`create` uses `O_EXCL`).
fn generated_name() -> Result<String> {
    static SEED: AtomicU64 = AtomicU64::new(0);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut seed = SEED.load(Ordering::Relaxed);
    if seed == 0 {
        let mut bytes = [0u8; 8];
        rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())?;
        seed = u64::from_le_bytes(bytes) | 1;
        SEED.store(seed, Ordering::Relaxed);
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Ok(format!(
        "psm_{:016x}",
        z ^ (z >> 31) ^ u64::from(crate::identity::process().id)
    ))
}

fn path(name: &str) -> String {
    format!("/{name}")
}

/// The bytes at the end of a segment mp made: the lease table, then the
/// trailer (`TRAILER_MAGIC ^ size`, then `size`, little-endian).
fn tail_len() -> usize {
    page_round(std::mem::size_of::<LeaseTable>() + TRAILER)
}

const TRAILER: usize = 16;
const TRAILER_MAGIC: u64 = u64::from_be_bytes(*b"mpshmlt1");

fn trailer(size: usize) -> [u8; TRAILER] {
    let mut t = [0; TRAILER];
    t[..8].copy_from_slice(&(TRAILER_MAGIC ^ size as u64).to_le_bytes());
    t[8..].copy_from_slice(&(size as u64).to_le_bytes());
    t
}

/// The layout of a segment's file of `file_len` bytes: the user's size,
/// and where its lease table starts (`None`: made by another program).
fn layout(fd: &OwnedFd, file_len: usize) -> Result<(usize, Option<usize>)> {
    if file_len < tail_len() + page_round(1) || file_len % page_round(1) != 0 {
        return Ok((file_len, None));
    }
    let mut t = [0; TRAILER];
    let read = rustix::io::pread(fd, &mut t, (file_len - TRAILER) as u64)?;
    let size = u64::from_le_bytes(t[8..].try_into().expect("8 bytes"));
    let magic = u64::from_le_bytes(t[..8].try_into().expect("8 bytes"));
    match usize::try_from(size) {
        Ok(size)
            if read == TRAILER
                && magic == TRAILER_MAGIC ^ size as u64
                && size > 0
                && page_round(size) + tail_len() == file_len =>
        {
            Ok((size, Some(page_round(size))))
        }
        _ => Ok((file_len, None)),
    }
}

/// The lease table of `seg`, if its layout has one.
fn leases_at(seg: &Arc<Segment>, table: Option<usize>) -> Option<Leases> {
    table.and_then(|offset| Leases::new(seg.clone(), offset))
}

/// The 8-byte words a copy of `len` bytes at `offset` touches (see
/// `atomic_copy`): what it must not share with a lease.
fn words(offset: usize, len: usize) -> std::ops::Range<usize> {
    offset & !7..(offset + len).next_multiple_of(8)
}

impl SharedMemory {
    /// Creates a new segment of `size` bytes, zero-filled, named `name` or a
    /// generated `psm_…` name for `None` (Python's
    /// `SharedMemory(name, create=True, size=size)`).
    ///
    /// An existing name is [`ErrorKind::AlreadyExists`]; size 0 is
    /// [`ErrorKind::ZeroSize`].
    pub fn create<'a>(name: impl Into<Option<&'a str>>, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(Error::new(
                ErrorKind::ZeroSize,
                "a shared memory segment needs a size above 0",
            ));
        }
        let given = name.into().map(check_name).transpose()?;
        let mut attempts = 0;
        let (name, fd) = loop {
            let name = match given {
                Some(n) => n.to_owned(),
                None => generated_name()?,
            };
            match rustix::shm::open(
                path(&name).as_str(),
                OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
                Mode::RUSR | Mode::WUSR,
            ) {
                Ok(fd) => break (name, fd),
                Err(Errno::EXIST) if given.is_none() && attempts < 8 => attempts += 1,
                Err(Errno::EXIST) => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("shared memory {name:?} already exists"),
                    ));
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot create shared memory {name:?}"),
                        e.into(),
                    ));
                }
            }
        };
        // The trailer is written where the file ends, which sizes it in one
        // step: a process that opens the name sees size 0 (refused) or
        // the whole file with its trailer, never the file without it.
        let file_len = page_round(size) + tail_len();
        let mapped = rustix::io::pwrite(&fd, &trailer(size), (file_len - TRAILER) as u64)
            .map_err(std::io::Error::from)
            .and_then(|n| {
                if n == TRAILER {
                    Ok(())
                } else {
                    Err(std::io::Error::other(
                        "short write of the segment's trailer",
                    ))
                }
            })
            .and_then(|()| Segment::named(fd, size, file_len));
        let seg = match mapped {
            Ok(seg) => seg,
            Err(e) => {
                let _ = rustix::shm::unlink(path(&name).as_str());
                return Err(Error::io(format!("cannot size shared memory {name:?}"), e));
            }
        };
        tracker::register(&name);
        Ok(SharedMemory {
            leases: leases_at(&seg, Some(page_round(size))),
            seg: Some(seg),
            name,
            size,
            owner: true,
            unlinked: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Attaches to the existing segment `name` (Python's
    /// `SharedMemory(name)`). A missing name is [`ErrorKind::NotFound`].
    /// This handle never unlinks the segment by itself.
    #[doc(alias = "attach")]
    pub fn open(name: &str) -> Result<SharedMemory> {
        let name = check_name(name)?;
        let fd = rustix::shm::open(path(name).as_str(), OFlags::RDWR, Mode::empty()).map_err(
            |e| match e {
                Errno::NOENT => Error::new(
                    ErrorKind::NotFound,
                    format!("no shared memory named {name:?}"),
                ),
                e => Error::io(format!("cannot open shared memory {name:?}"), e.into()),
            },
        )?;
        let file_len = rustix::fs::fstat(&fd)?.st_size as usize;
        if file_len == 0 {
            return Err(Error::new(
                ErrorKind::ZeroSize,
                format!("shared memory {name:?} has size 0"),
            ));
        }
        let (size, table) = layout(&fd, file_len)?;
        let seg = Segment::named(fd, size, file_len)
            .map_err(|e| Error::io(format!("cannot map shared memory {name:?}"), e))?;
        Ok(SharedMemory {
            leases: leases_at(&seg, table),
            seg: Some(seg),
            name: name.to_owned(),
            size,
            owner: false,
            unlinked: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The name, without the leading `/` (Python's `shm.name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes: the size given to `create` (Python's `shm.size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The size of the memory actually mapped: `size()` rounded up to whole
    /// pages (what macOS reports as the size).
    pub fn real_size(&self) -> usize {
        page_round(self.size)
    }

    /// Whether this handle created the segment (and so unlinks it on drop).
    pub fn is_creator(&self) -> bool {
        self.owner
    }

    pub(crate) fn mapped(&self) -> Result<&Arc<Segment>> {
        self.seg
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Closed, "shared memory handle is closed"))
    }

    fn range_error(&self, offset: usize, len: usize) -> Error {
        Error::new(
            ErrorKind::OutOfRange,
            format!(
                "bytes {offset}..{} are outside the segment of {} bytes",
                offset.saturating_add(len),
                self.size
            ),
        )
    }

    /// Runs the copy `f` of `len` bytes at `offset`, checked in bounds and
    /// against the leases.
    fn copy(&self, offset: usize, len: usize, f: impl FnOnce(&Segment)) -> Result<()> {
        let seg = self.mapped()?;
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(self.range_error(offset, len));
        }
        match &self.leases {
            Some(leases) if len > 0 => leases.access(words(offset, len), || f(seg)),
            _ => {
                f(seg);
                Ok(())
            }
        }
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    ///
    /// The copy is a run of atomic 8-byte loads, so it is race-free while
    /// other processes write; if one writes the same bytes at the same time,
    /// the copy may mix old and new words (use a lock to prevent it). A
    /// copy that shares an 8-byte word with a lease is [`ErrorKind::Leased`].
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.copy(offset, buf.len(), |seg| {
            seg.map().read(offset, buf);
        })
    }

    /// Copies `data` into the segment at `offset`, as a run of atomic 8-byte
    /// stores (the bytes next to the range, in the same words, are kept).
    /// A copy that shares an 8-byte word with a lease is [`ErrorKind::Leased`].
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.copy(offset, data.len(), |seg| {
            seg.map().write(offset, data);
        })
    }

    /// Leases `len` elements of `T` at byte `offset` to this process: a
    /// `&mut [T]` of them, zero-copy and lock-free, while other processes
    /// (through any handle, by name or by clone) lease and copy other
    /// ranges (see [`Lease`]). Waits while the range overlaps another
    /// lease, or copies of it are in flight.
    ///
    /// An `offset` that is not a multiple of `T`'s alignment is
    /// [`ErrorKind::Misaligned`]; bytes past `size()` are
    /// [`ErrorKind::OutOfRange`]; a segment made by another program, or by
    /// a [`ShareableList`](crate::ShareableList), is
    /// [`ErrorKind::NotLeasable`].
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
    #[doc = concat!("use ", crate::mp_crate!(shm), "::SharedMemory;")]
    /// let shm = SharedMemory::create(None, 8 * 1024)?;
    /// // numpy's `np.ndarray((1024,), np.float64, buffer=shm.buf)[:512] = 1.0`
    /// shm.lease::<f64>(0, 512)?.fill(1.0);
    /// let other = SharedMemory::open(shm.name())?;
    /// let mut high = other.lease::<f64>(512 * 8, 512)?;
    /// high.fill(2.0);
    /// assert!(shm.try_lease::<u8>(512 * 8, 1).is_err()); // taken
    /// drop(high);
    /// let mut x = [0; 8];
    /// shm.read_at(512 * 8, &mut x)?;
    /// assert_eq!(f64::from_ne_bytes(x), 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lease<T: Shareable>(&self, offset: usize, len: usize) -> Result<Lease<'_, T>> {
        self.lease_by(offset, len, &Deadline::never())
    }

    /// [`lease`](SharedMemory::lease), waiting at most `timeout`; then
    /// [`ErrorKind::Leased`] (or [`ErrorKind::TooManyLeases`]).
    pub fn lease_timeout<T: Shareable>(
        &self,
        offset: usize,
        len: usize,
        timeout: Duration,
    ) -> Result<Lease<'_, T>> {
        self.lease_by(offset, len, &Deadline::after(timeout))
    }

    /// [`lease`](SharedMemory::lease) only if the range is free now, else
    /// [`ErrorKind::Leased`].
    pub fn try_lease<T: Shareable>(&self, offset: usize, len: usize) -> Result<Lease<'_, T>> {
        self.lease_by(offset, len, &Deadline::after(Duration::ZERO))
    }

    fn lease_by<T: Shareable>(
        &self,
        offset: usize,
        len: usize,
        deadline: &Deadline,
    ) -> Result<Lease<'_, T>> {
        let seg = self.mapped()?;
        let leases = self.leases.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::NotLeasable,
                format!(
                    "shared memory {:?} was made by another program: it has no lease table",
                    self.name
                ),
            )
        })?;
        Lease::of_bytes(seg, self.size, leases, offset, len, deadline)
    }

    /// Makes the segment unleasable (a `ShareableList`'s).
    pub(crate) fn forbid_leases(&self) -> Result<()> {
        match &self.leases {
            Some(leases) => leases.forbid(),
            None => Ok(()),
        }
    }

    /// A copy of the whole segment (`size()` bytes; Python's `bytes(shm.buf)`).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.size];
        self.read_at(0, &mut v)?;
        Ok(v)
    }

    /// The first byte in this process (`None` after close).
    pub fn as_ptr(&self) -> Option<*mut u8> {
        self.seg.as_ref().map(|s| s.map().as_ptr())
    }

    /// Unmaps the segment from this handle (Python's `close()`); other
    /// handles and processes keep it. Reads and writes after it are
    /// [`ErrorKind::Closed`]; `unlink` still works.
    pub fn close(&mut self) {
        self.leases = None;
        self.seg = None;
    }

    /// Removes the name, so nobody can attach any more (Python's
    /// `unlink()`); the memory lives until every handle is gone.
    ///
    /// A second unlink (by this handle or a clone, or of a name some other
    /// process already removed) is [`ErrorKind::AlreadyUnlinked`].
    pub fn unlink(&self) -> Result<()> {
        if self.unlinked.swap(true, Ordering::AcqRel) {
            return Err(Error::new(
                ErrorKind::AlreadyUnlinked,
                format!("shared memory {:?} was already unlinked", self.name),
            ));
        }
        tracker::unregister(&self.name);
        rustix::shm::unlink(path(&self.name).as_str()).map_err(|e| match e {
            Errno::NOENT => Error::new(
                ErrorKind::AlreadyUnlinked,
                format!("shared memory {:?} was already unlinked", self.name),
            ),
            e => Error::io(
                format!("cannot unlink shared memory {:?}", self.name),
                e.into(),
            ),
        })
    }

    /// Keeps the segment after this creating handle is dropped (and after
    /// this process exits): someone must `unlink` it later.
    pub fn persist(&mut self) {
        if self.owner {
            self.owner = false;
            tracker::unregister(&self.name);
        }
    }
}

impl Clone for SharedMemory {
    /// Another handle to the same mapping; it is an attacher: it never
    /// unlinks on drop, even when cloned from the creator.
    fn clone(&self) -> SharedMemory {
        SharedMemory {
            seg: self.seg.clone(),
            leases: self.leases.clone(),
            name: self.name.clone(),
            size: self.size,
            owner: false,
            unlinked: self.unlinked.clone(),
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if self.owner && !self.unlinked.swap(true, Ordering::AcqRel) {
            tracker::unregister(&self.name);
            let _ = rustix::shm::unlink(path(&self.name).as_str());
        }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("creator", &self.owner)
            .field("closed", &self.seg.is_none())
            .finish()
    }
}

#[derive(Serialize)]
struct WireRef<'a> {
    name: &'a str,
    size: u64,
    #[serde(serialize_with = "ser_fd")]
    seg: &'a Segment,
}

fn ser_fd<S: Serializer>(seg: &&Segment, s: S) -> std::result::Result<S::Ok, S::Error> {
    Fd::serialize_borrowed(seg.fd(), s)
}

#[derive(Deserialize)]
struct WireOwned {
    name: String,
    size: u64,
    seg: Fd,
}

impl Serialize for SharedMemory {
    /// The segment travels as its descriptor (and name); the receiver gets
    /// an attaching handle.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let seg = self.mapped().map_err(serde::ser::Error::custom)?;
        WireRef {
            name: &self.name,
            size: self.size as u64,
            seg,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<SharedMemory, D::Error> {
        use serde::de::Error as _;
        let wire = WireOwned::deserialize(d)?;
        let fd = wire.seg.into_owned();
        let file_len = rustix::fs::fstat(&fd).map_err(D::Error::custom)?.st_size;
        let file_len = usize::try_from(file_len).map_err(D::Error::custom)?;
        let (size, table) = layout(&fd, file_len).map_err(D::Error::custom)?;
        if wire.size == 0 || wire.size != size as u64 {
            return Err(D::Error::custom(
                "shared memory of another size than announced",
            ));
        }
        let seg = Segment::named(fd, size, file_len).map_err(D::Error::custom)?;
        Ok(SharedMemory {
            leases: leases_at(&seg, table),
            seg: Some(seg),
            name: wire.name,
            size,
            owner: false,
            unlinked: Arc::new(AtomicBool::new(false)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_generated_names_differ() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        assert_eq!(check_name("/psm_1").unwrap(), "psm_1");
        assert_eq!(check_name("a.b-c_d").unwrap(), "a.b-c_d");
        for bad in ["", "/", "..", "a/b", "a b", "ü", "x\n"] {
            assert_eq!(
                check_name(bad).unwrap_err().kind(),
                ErrorKind::InvalidName,
                "{bad:?}"
            );
        }
        assert!(check_name(&"n".repeat(MAX_NAME_LEN)).is_ok());
        assert!(check_name(&"n".repeat(MAX_NAME_LEN + 1)).is_err());
        let a = generated_name().unwrap();
        let b = generated_name().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("psm_") && a.len() == 20, "{a}");
    }
}
