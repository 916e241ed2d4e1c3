//! `ShareableList`: fixed slots of mixed items in a `SharedMemory`, each
//! access under a robust lock kept in the segment.

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use mp_internal::Deadline;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::object::Kind;
use crate::raw_lock::Owner;
use crate::shared_memory::SharedMemory;
use crate::sys::layout::{ListHeader, SlotMeta};

const SLOTS_OFFSET: usize = 64;
const ALIGN: usize = 8;

/// One item of a [`ShareableList`] (the types Python's `ShareableList`
/// holds: `int`, `float`, `bool`, `str`, `bytes`, `None`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// Python's `None`.
    None,
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// Bytes, kept exactly (trailing NULs included).
    Bytes(Vec<u8>),
}

impl Item {
    fn code(&self) -> u32 {
        match self {
            Item::None => 0,
            Item::Int(_) => 1,
            Item::Float(_) => 2,
            Item::Bool(_) => 3,
            Item::Str(_) => 4,
            Item::Bytes(_) => 5,
        }
    }

    fn payload(&self) -> Vec<u8> {
        match self {
            Item::None => Vec::new(),
            Item::Int(v) => v.to_le_bytes().to_vec(),
            Item::Float(v) => v.to_le_bytes().to_vec(),
            Item::Bool(v) => vec![u8::from(*v)],
            Item::Str(s) => s.as_bytes().to_vec(),
            Item::Bytes(b) => b.clone(),
        }
    }

    /// Bytes reserved for this item at creation (Python rounds to 8).
    fn capacity(&self) -> usize {
        match self {
            Item::Str(s) => s.len().div_ceil(ALIGN).max(1) * ALIGN,
            Item::Bytes(b) => b.len().div_ceil(ALIGN).max(1) * ALIGN,
            _ => ALIGN,
        }
    }

    fn decode(code: u32, bytes: Vec<u8>) -> Result<Item> {
        let bad = || Error::new(ErrorKind::InvalidData, "corrupt ShareableList slot");
        let eight = |b: &[u8]| -> Result<[u8; 8]> { b.try_into().map_err(|_| bad()) };
        Ok(match code {
            0 => Item::None,
            1 => Item::Int(i64::from_le_bytes(eight(&bytes)?)),
            2 => Item::Float(f64::from_le_bytes(eight(&bytes)?)),
            3 => Item::Bool(bytes.first().copied().ok_or_else(bad)? != 0),
            4 => Item::Str(String::from_utf8(bytes).map_err(|_| {
                Error::new(ErrorKind::InvalidData, "ShareableList string is not UTF-8")
            })?),
            5 => Item::Bytes(bytes),
            _ => return Err(bad()),
        })
    }
}

macro_rules! item_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Item {
            fn from($v: $t) -> Item {
                $e
            }
        })*
    };
}

item_from!(
    () => |_v| Item::None,
    i64 => |v| Item::Int(v),
    i32 => |v| Item::Int(v.into()),
    u32 => |v| Item::Int(v.into()),
    f64 => |v| Item::Float(v),
    bool => |v| Item::Bool(v),
    String => |v| Item::Str(v),
    &str => |v| Item::Str(v.to_owned()),
    Vec<u8> => |v| Item::Bytes(v),
    &[u8] => |v| Item::Bytes(v.to_vec()),
);

/// A fixed-length list of mixed items in a named shared memory segment
/// (Python's `multiprocessing.shared_memory.ShareableList`).
///
/// Every slot keeps the room its first item needed (strings and bytes
/// rounded up to 8 bytes, other items 8); [`set`](ShareableList::set) of a
/// longer value is [`ErrorKind::TooLong`] and changes nothing. Items round
/// trip exactly (unlike CPython, trailing NUL bytes are kept). Each access
/// takes a robust lock stored in the segment, so readers never see half an
/// item.
///
/// The segment follows [`SharedMemory`]'s rules: the creating list unlinks
/// it on drop; [`open`](ShareableList::open)ed lists and clones do not.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(shm), "::{Item, ShareableList};")]
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
/// let list = ShareableList::create(None, [Item::from(1), "howdy".into(), b"\0x\0".as_slice().into()])?;
/// let same = ShareableList::open(list.name())?;
/// same.set(0, Item::Float(2.5))?;
/// assert_eq!(list.get(0)?, Item::Float(2.5));
/// assert_eq!(list.get(2)?, Item::Bytes(b"\0x\0".to_vec()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ShareableList {
    shm: SharedMemory,
    len: usize,
}

/// The list's lock, held (and the hold's word).
struct Held<'a>(&'a ListHeader, u32);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.lock.unlock(self.1);
    }
}

impl ShareableList {
    /// Creates a list of `items` in a new segment named `name` (or a
    /// generated name).
    pub fn create<'a, I>(name: impl Into<Option<&'a str>>, items: I) -> Result<ShareableList>
    where
        I: IntoIterator,
        I::Item: Into<Item>,
    {
        let items: Vec<Item> = items.into_iter().map(Into::into).collect();
        let slots_end = SLOTS_OFFSET + items.len() * std::mem::size_of::<SlotMeta>();
        let data_start = slots_end.div_ceil(ALIGN) * ALIGN;
        let total = data_start + items.iter().map(Item::capacity).sum::<usize>();
        let shm = SharedMemory::create(name, total)?;
        // Its header and slots are atomics no lease may cover.
        shm.forbid_leases()?;
        let list = ShareableList {
            shm,
            len: items.len(),
        };
        let map = list.shm.mapped()?.map();
        let header = map.state::<ListHeader>(0).expect("room for the header");
        header.count.store(items.len() as u64, Relaxed);
        header.total.store(total as u64, Relaxed);
        let slots = map
            .states::<SlotMeta>(SLOTS_OFFSET, items.len())
            .expect("room for the slots");
        let mut offset = data_start;
        for (slot, item) in slots.iter().zip(&items) {
            let payload = item.payload();
            map.write(offset, &payload);
            slot.capacity.store(item.capacity() as u64, Relaxed);
            slot.offset.store(offset as u64, Relaxed);
            slot.len.store(payload.len() as u32, Relaxed);
            slot.kind.store(item.code(), Relaxed);
            offset += item.capacity();
        }
        header.tag.store(Kind::ShareableList.tag(), Release);
        Ok(list)
    }

    /// Attaches to the list in segment `name` (Python's
    /// `ShareableList(name=name)`).
    pub fn open(name: &str) -> Result<ShareableList> {
        ShareableList::from_shm(SharedMemory::open(name)?)
    }

    fn from_shm(shm: SharedMemory) -> Result<ShareableList> {
        let wrong = || {
            Error::new(
                ErrorKind::WrongType,
                format!("{:?} is not a ShareableList", shm.name()),
            )
        };
        let map = shm.mapped()?.map();
        let header = map.state::<ListHeader>(0).ok_or_else(wrong)?;
        if header.tag.load(Acquire) != Kind::ShareableList.tag() {
            return Err(wrong());
        }
        let len = usize::try_from(header.count.load(Relaxed)).map_err(|_| wrong())?;
        map.states::<SlotMeta>(SLOTS_OFFSET, len)
            .ok_or_else(wrong)?;
        Ok(ShareableList { shm, len })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segment's name (Python's `sl.shm.name`).
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// The underlying segment (Python's `sl.shm`).
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The underlying segment, mutably (to `persist` or `close` it).
    pub fn shm_mut(&mut self) -> &mut SharedMemory {
        &mut self.shm
    }

    fn check(&self, i: usize) -> Result<()> {
        if i < self.len {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::OutOfRange,
                format!("index {i} out of range for a ShareableList of {}", self.len),
            ))
        }
    }

    fn lock(&self) -> Result<(Held<'_>, &[SlotMeta])> {
        let map = self.shm.mapped()?.map();
        let header = map.state::<ListHeader>(0).expect("checked at open");
        // A writer that died mid-`set` leaves at most that slot stale; its
        // metadata is written last and every read is validated.
        let hold = header
            .lock
            .lock(Owner::Process, false, &Deadline::never())
            .expect("an unbounded wait does not time out");
        header.lock.mark_consistent();
        let slots = map
            .states::<SlotMeta>(SLOTS_OFFSET, self.len)
            .expect("checked at open");
        Ok((Held(header, hold.word), slots))
    }

    /// Item `i` (Python's `sl[i]`); out of range is [`ErrorKind::OutOfRange`].
    pub fn get(&self, i: usize) -> Result<Item> {
        self.check(i)?;
        let (held, slots) = self.lock()?;
        let slot = &slots[i];
        let (code, len, offset) = (
            slot.kind.load(Relaxed),
            slot.len.load(Relaxed) as usize,
            slot.offset.load(Relaxed) as usize,
        );
        if len as u64 > slot.capacity.load(Relaxed) {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "corrupt ShareableList slot",
            ));
        }
        let mut bytes = vec![0; len];
        if !self.shm.mapped()?.map().read(offset, &mut bytes) {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "corrupt ShareableList slot",
            ));
        }
        drop(held);
        Item::decode(code, bytes)
    }

    /// Replaces item `i` (Python's `sl[i] = x`). A value longer than the
    /// slot is [`ErrorKind::TooLong`]; nothing changes then.
    pub fn set(&self, i: usize, item: impl Into<Item>) -> Result<()> {
        let item = item.into();
        self.check(i)?;
        let payload = item.payload();
        let (_held, slots) = self.lock()?;
        let slot = &slots[i];
        let capacity = slot.capacity.load(Relaxed);
        if payload.len() as u64 > capacity {
            return Err(Error::new(
                ErrorKind::TooLong,
                format!(
                    "item of {} bytes does not fit slot {i} of {capacity} bytes",
                    payload.len()
                ),
            ));
        }
        let offset = slot.offset.load(Relaxed) as usize;
        if !self.shm.mapped()?.map().write(offset, &payload) {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "corrupt ShareableList slot",
            ));
        }
        slot.len.store(payload.len() as u32, Relaxed);
        slot.kind.store(item.code(), Relaxed);
        Ok(())
    }

    /// The bytes slot `i` can hold.
    pub fn capacity(&self, i: usize) -> Result<usize> {
        self.check(i)?;
        let (_held, slots) = self.lock()?;
        Ok(slots[i].capacity.load(Relaxed) as usize)
    }

    /// All items, in order.
    pub fn to_vec(&self) -> Result<Vec<Item>> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    /// How many items equal `item` (Python's `count`).
    pub fn count(&self, item: &Item) -> Result<usize> {
        Ok(self.to_vec()?.iter().filter(|x| *x == item).count())
    }

    /// The first index of `item` (Python's `index`, `None` instead of `ValueError`).
    pub fn index(&self, item: &Item) -> Result<Option<usize>> {
        Ok(self.to_vec()?.iter().position(|x| x == item))
    }
}

impl fmt::Debug for ShareableList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareableList")
            .field("name", &self.name())
            .field("len", &self.len)
            .finish()
    }
}

impl Serialize for ShareableList {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<ShareableList, D::Error> {
        let shm = SharedMemory::deserialize(d)?;
        ShareableList::from_shm(shm).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_encode_and_decode_exactly() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let items = [
            Item::None,
            Item::Int(i64::MIN),
            Item::Float(-0.5),
            Item::Bool(false),
            Item::Str("é\0".into()),
            Item::Bytes(vec![0, 1, 0, 0]),
        ];
        for item in items {
            let back = Item::decode(item.code(), item.payload()).unwrap();
            assert_eq!(back, item);
            assert!(item.payload().len() <= item.capacity());
            assert_eq!(item.capacity() % ALIGN, 0);
        }
        assert_eq!(
            Item::decode(4, vec![0xff]).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(
            Item::decode(9, vec![]).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(Item::from("abcdefghi").capacity(), 16);
    }
}
