//! Shared objects: creation in a fresh memfd segment, the kind tag every
//! object starts with, and the wire form of a handle (the memfd plus an
//! offset) that lets it travel to another process.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mp_handle::Fd;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::sys::layout::{
    BarrierState, ConditionState, DataHeader, EventState, ListHeader, LockState, MAGIC,
    SemaphoreState, State,
};
use crate::sys::memory::{Segment, View};

/// What an object is; stored in its first 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    Lock = 1,
    RLock = 2,
    Semaphore = 3,
    BoundedSemaphore = 4,
    Event = 5,
    Condition = 6,
    Barrier = 7,
    Value = 8,
    Array = 9,
    RawValue = 10,
    RawArray = 11,
    ShareableList = 12,
}

impl Kind {
    pub(crate) fn tag(self) -> u64 {
        (MAGIC << 32) | self as u64
    }

    fn name_of(tag: u64) -> String {
        if tag >> 32 != MAGIC {
            return "not an mp-shm object".to_owned();
        }
        let all = [
            Kind::Lock,
            Kind::RLock,
            Kind::Semaphore,
            Kind::BoundedSemaphore,
            Kind::Event,
            Kind::Condition,
            Kind::Barrier,
            Kind::Value,
            Kind::Array,
            Kind::RawValue,
            Kind::RawArray,
            Kind::ShareableList,
        ];
        all.iter().find(|k| k.tag() == tag).map_or_else(
            || format!("unknown kind {}", tag & 0xffff_ffff),
            |k| format!("{k:?}"),
        )
    }
}

/// Records that start with a kind tag.
pub(crate) trait Tagged: State {
    fn tag(&self) -> &AtomicU64;
}

macro_rules! tagged {
    ($($t:ty),*) => {
        $(impl Tagged for $t {
            fn tag(&self) -> &AtomicU64 {
                &self.tag
            }
        })*
    };
}

tagged!(
    LockState,
    SemaphoreState,
    EventState,
    ConditionState,
    BarrierState,
    DataHeader,
    ListHeader
);

/// Bytes of a new segment: at least `len`, whole pages.
pub(crate) fn page_round(len: usize) -> usize {
    let page = rustix::param::page_size();
    len.div_ceil(page).max(1) * page
}

/// A new segment of `len` bytes (rounded to pages) with an `S` of kind
/// `kind` at offset 0.
pub(crate) fn create<S: Tagged>(kind: Kind, len: usize) -> Result<View<S>> {
    let len = page_round(len.max(std::mem::size_of::<S>()));
    let seg = Segment::create(&format!("mp-shm:{kind:?}"), len)
        .map_err(|e| Error::io(format!("cannot create shared memory for a {kind:?}"), e))?;
    let view = View::<S>::new(seg, 0).expect("a fresh segment holds its header");
    view.get().tag().store(kind.tag(), Ordering::Release);
    Ok(view)
}

/// The `S` of kind `kind` at `offset` of `seg`, checked.
pub(crate) fn view<S: Tagged>(seg: Arc<Segment>, offset: usize, kind: Kind) -> Result<View<S>> {
    let view = View::<S>::new(seg, offset).ok_or_else(|| {
        Error::new(
            ErrorKind::WrongType,
            format!("offset {offset} is outside the shared segment"),
        )
    })?;
    let tag = view.get().tag().load(Ordering::Acquire);
    if tag != kind.tag() {
        return Err(Error::new(
            ErrorKind::WrongType,
            format!("expected a shared {kind:?}, found {}", Kind::name_of(tag)),
        ));
    }
    Ok(view)
}

#[derive(Serialize)]
struct WireRef<'a> {
    #[serde(serialize_with = "serialize_fd")]
    fd: BorrowedFd<'a>,
    offset: u64,
}

#[derive(Deserialize)]
struct WireOwned {
    fd: Fd,
    offset: u64,
}

fn serialize_fd<S: Serializer>(fd: &BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    Fd::serialize_borrowed(*fd, s)
}

/// Serializes the segment of `view` (as a descriptor) and its offset.
pub(crate) fn serialize_place<S: Serializer>(
    seg: &Segment,
    offset: usize,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    WireRef {
        fd: seg.wire_fd(),
        offset: offset as u64,
    }
    .serialize(serializer)
}

/// Maps a received segment and returns it with the offset.
pub(crate) fn deserialize_place<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<(Arc<Segment>, usize), D::Error> {
    let wire = WireOwned::deserialize(deserializer)?;
    let seg = Segment::attach(wire.fd.into_owned()).map_err(serde::de::Error::custom)?;
    let offset = usize::try_from(wire.offset).map_err(serde::de::Error::custom)?;
    Ok((seg, offset))
}

/// Serializes a view.
pub(crate) fn serialize_view<S: Tagged, Ser: Serializer>(
    view: &View<S>,
    serializer: Ser,
) -> Result<Ser::Ok, Ser::Error> {
    serialize_place(view.segment(), view.offset(), serializer)
}

/// Deserializes a view of kind `kind`; a wrong kind is an error.
pub(crate) fn deserialize_view<'de, S: Tagged, D: Deserializer<'de>>(
    deserializer: D,
    kind: Kind,
) -> Result<View<S>, D::Error> {
    let (seg, offset) = deserialize_place(deserializer)?;
    view(seg, offset, kind).map_err(serde::de::Error::custom)
}
