//! The segment behind `Value`, `Array`, `RawValue` and `RawArray`: its
//! layout (header, optional inline lock, data), creation, the checks made
//! when a handle is received, and the handle's wire form.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::lock::{Lock, LockGuard};
use crate::object::{self, Kind};
use crate::sys::Shareable;
use crate::sys::data::DataRegion;
use crate::sys::layout::{DataHeader, LockState};
use crate::sys::memory::{Segment, View};

pub(crate) const LOCK_OFFSET: usize = 64;

pub(crate) fn data_offset<T>() -> usize {
    std::mem::align_of::<T>().max(128)
}

/// A stable fingerprint of `T` within one program (all processes of an mp
/// program run the same binary).
pub(crate) fn type_hash<T>() -> u64 {
    std::any::type_name::<T>()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// A new data segment of `len` elements (plus an inline lock if asked).
pub(crate) fn create_data<T: Shareable>(
    kind: Kind,
    len: usize,
    inline_lock: bool,
) -> Result<DataRegion<T>> {
    let bytes = std::mem::size_of::<T>()
        .checked_mul(len)
        .and_then(|b| b.checked_add(data_offset::<T>()))
        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "array too large"))?;
    let header = object::create::<DataHeader>(kind, bytes)?;
    let h = header.get();
    h.type_hash.store(type_hash::<T>(), Ordering::Relaxed);
    h.elem_size
        .store(std::mem::size_of::<T>() as u64, Ordering::Relaxed);
    h.elem_align
        .store(std::mem::align_of::<T>() as u64, Ordering::Relaxed);
    h.len.store(len as u64, Ordering::Release);
    let seg = header.segment().clone();
    if inline_lock {
        let lock = View::<LockState>::new(seg.clone(), LOCK_OFFSET).expect("room for the lock");
        lock.get().tag.store(Kind::Lock.tag(), Ordering::Release);
    }
    Ok(DataRegion::new(seg, data_offset::<T>(), len).expect("the segment was sized for the data"))
}

/// The data region of a received segment, checked against `T` and `kind`.
pub(crate) fn attach_data<T: Shareable>(
    seg: Arc<Segment>,
    offset: usize,
    kind: Kind,
) -> Result<DataRegion<T>> {
    let header = object::view::<DataHeader>(seg, offset, kind)?;
    let h = header.get();
    let (hash, size, align) = (
        h.type_hash.load(Ordering::Relaxed),
        h.elem_size.load(Ordering::Relaxed),
        h.elem_align.load(Ordering::Relaxed),
    );
    if hash != type_hash::<T>()
        || size != std::mem::size_of::<T>() as u64
        || align != std::mem::align_of::<T>() as u64
    {
        return Err(Error::new(
            ErrorKind::WrongType,
            format!(
                "shared data of {size}-byte elements is not a {kind:?} of {}",
                std::any::type_name::<T>()
            ),
        ));
    }
    let len = usize::try_from(h.len.load(Ordering::Acquire))
        .map_err(|_| Error::new(ErrorKind::WrongType, "bad length"))?;
    DataRegion::new(header.segment().clone(), data_offset::<T>(), len)
        .ok_or_else(|| Error::new(ErrorKind::WrongType, "shared data larger than its segment"))
}

pub(crate) fn inline_lock(region_seg: &Arc<Segment>) -> Lock {
    Lock::from_view(View::new(region_seg.clone(), LOCK_OFFSET).expect("room for the lock"))
}

pub(crate) fn check_lock(guard: &LockGuard<'_>, lock: &Lock) -> Result<()> {
    if !guard.lock().same_as(lock) {
        return Err(Error::new(
            ErrorKind::LockNotHeld,
            "the guard holds another lock than this object's",
        ));
    }
    // A live guard's hold is released by nobody else (it is pinned); this
    // only fails if its process was wrongly judged dead and the lock taken
    // over, and then the data is not touched.
    if !guard.holds() {
        return Err(Error::new(
            ErrorKind::LockNotHeld,
            "the guard's acquisition no longer holds the lock",
        ));
    }
    Ok(())
}

pub(crate) fn out_of_range(i: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::OutOfRange,
        format!("index {i} out of range for length {len}"),
    )
}

pub(crate) fn check_span(start: usize, n: usize, len: usize) -> Result<()> {
    if start.checked_add(n).is_some_and(|end| end <= len) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "elements {start}..{} out of range for length {len}",
                start.saturating_add(n)
            ),
        ))
    }
}

#[derive(Serialize)]
pub(crate) struct WireRef<'a> {
    #[serde(serialize_with = "ser_region")]
    data: (&'a Arc<Segment>, usize),
    lock: Option<&'a Lock>,
}

pub(crate) fn ser_region<S: Serializer>(
    r: &(&Arc<Segment>, usize),
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    object::serialize_place(r.0, r.1, s)
}

pub(crate) struct Place(Arc<Segment>, usize);

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Place, D::Error> {
        object::deserialize_place(d).map(|(s, o)| Place(s, o))
    }
}

#[derive(Deserialize)]
pub(crate) struct WireOwned {
    data: Place,
    lock: Option<Lock>,
}

pub(crate) fn serialize_data<T: Shareable, S: Serializer>(
    data: &DataRegion<T>,
    lock: Option<&Lock>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    WireRef {
        data: (data.segment(), 0),
        lock,
    }
    .serialize(s)
}

pub(crate) fn deserialize_data<'de, T: Shareable, D: Deserializer<'de>>(
    d: D,
    kind: Kind,
    locked: bool,
) -> std::result::Result<(DataRegion<T>, Option<Lock>), D::Error> {
    use serde::de::Error as _;
    let wire = WireOwned::deserialize(d)?;
    if wire.lock.is_some() != locked {
        return Err(D::Error::custom(format!("not a shared {kind:?}")));
    }
    let region = attach_data::<T>(wire.data.0, wire.data.1, kind).map_err(D::Error::custom)?;
    Ok((region, wire.lock))
}

pub(crate) fn atomic_size<T>() {
    const {
        assert!(
            matches!(std::mem::size_of::<T>(), 1 | 2 | 4 | 8),
            "atomic access needs a type of 1, 2, 4 or 8 bytes; use the unsafe accessors"
        )
    };
}
