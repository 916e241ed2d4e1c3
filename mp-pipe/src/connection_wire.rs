//! How a `Connection` travels to another process: its descriptors (the
//! socket, and a pipe's shared memory) go through the transport's handle
//! table, its settings as data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mp_handle::{Fd, FdRef};
use serde::{Deserialize, Serialize};

use crate::connection::Connection;
use crate::fast_path::FastPath;
use crate::frame::Framing;
use crate::segment::Segment;

#[derive(Serialize)]
struct WireRef<'a> {
    fd: FdRef<'a>,
    readable: bool,
    writable: bool,
    unix: bool,
    framing: Framing,
    max: u64,
    peer_max: u64,
    fast: Option<FastRef<'a>>,
}

/// A pipe end's shared memory and the lanes it reads and writes.
#[derive(Serialize)]
struct FastRef<'a> {
    fd: FdRef<'a>,
    incoming: Option<u8>,
    outgoing: Option<u8>,
}

#[derive(Deserialize)]
struct WireOwned {
    fd: Fd,
    readable: bool,
    writable: bool,
    unix: bool,
    framing: Framing,
    max: u64,
    peer_max: u64,
    fast: Option<FastOwned>,
}

#[derive(Deserialize)]
struct FastOwned {
    fd: Fd,
    incoming: Option<u8>,
    outgoing: Option<u8>,
}

impl Serialize for Connection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = self.fd().map_err(serde::ser::Error::custom)?;
        if let Some(deferred) = &self.deferred {
            deferred.catch_up(self).map_err(serde::ser::Error::custom)?;
            if deferred.pending() {
                return Err(serde::ser::Error::custom(
                    "the connection's handshake still waits for the listener's answer: \
                     receive on it once before it travels to another process",
                ));
            }
        }
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return Err(serde::ser::Error::custom(
                "a TLS connection cannot travel to another process (its session keys stay here)",
            ));
        }
        let lane = |i: Option<usize>| i.map(|i| i as u8);
        WireRef {
            fd: FdRef(fd),
            readable: self.readable,
            writable: self.writable,
            unix: self.unix,
            framing: self.framing,
            max: self.limit.load(Ordering::Relaxed),
            peer_max: self.peer_limit.load(Ordering::Relaxed),
            fast: self.fast.as_ref().map(|fast| FastRef {
                fd: FdRef(fast.segment.fd()),
                incoming: lane(fast.incoming),
                outgoing: lane(fast.outgoing),
            }),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Connection, D::Error> {
        let wire = WireOwned::deserialize(deserializer)?;
        let mut conn = Connection::with_limits(
            wire.fd.into_owned(),
            (wire.readable, wire.writable, wire.unix, wire.framing),
            Arc::new(AtomicU64::new(wire.max)),
            Arc::new(AtomicU64::new(wire.peer_max)),
        );
        if let Some(fast) = wire.fast {
            let lane = |i: Option<u8>| i.map(usize::from).filter(|&i| i < 2);
            let segment = Segment::map(fast.fd.into_owned()).map_err(serde::de::Error::custom)?;
            conn.fast = Some(FastPath::new(
                Arc::new(segment),
                lane(fast.incoming),
                lane(fast.outgoing),
            ));
        }
        Ok(conn)
    }
}
