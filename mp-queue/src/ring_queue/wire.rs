//! How a ring queue crosses processes: its memfd, its doorbell and its two
//! locks, as serde values carrying descriptors (mp-handle).

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;

use mp_handle::{Fd, FdRef};
use mp_shm::Lock;
use serde::{Deserialize, Serialize};

use super::RingQueue;
use crate::doorbell::Doorbell;
use crate::header::MAGIC;
use crate::sys::Ring;

#[derive(Serialize)]
struct WireRef<'a> {
    fd: FdRef<'a>,
    doorbell: FdRef<'a>,
    ring_size: u64,
    put_lock: &'a Lock,
    get_lock: &'a Lock,
}

#[derive(Deserialize)]
struct WireOwned {
    fd: Fd,
    doorbell: Fd,
    ring_size: u64,
    put_lock: Lock,
    get_lock: Lock,
}

impl Serialize for RingQueue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireRef {
            fd: FdRef(self.fd.as_fd()),
            doorbell: FdRef(self.doorbell.as_fd()),
            ring_size: self.capacity(),
            put_lock: self.puts.lock(),
            get_lock: self.gets.lock(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RingQueue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RingQueue, D::Error> {
        use serde::de::Error as _;
        let wire = WireOwned::deserialize(deserializer)?;
        let fd = wire.fd.into_owned();
        let ring = Ring::map(fd.as_fd(), wire.ring_size as usize).map_err(D::Error::custom)?;
        if ring.header().config.0.magic.load(Ordering::Acquire) != MAGIC {
            return Err(D::Error::custom("not an mp queue"));
        }
        let doorbell = Doorbell::adopt(wire.doorbell.into_owned()).map_err(D::Error::custom)?;
        Ok(RingQueue::from_parts(
            fd,
            ring,
            doorbell,
            wire.put_lock,
            wire.get_lock,
        ))
    }
}
