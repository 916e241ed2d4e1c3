//! The seam for protocol adapters: code that serves clients of another
//! wire protocol (CPython's manager protocol, in mp-python) from a
//! server's object table, in the server process, beside mp's own clients.
//!
//! An adapter is started with [`Registrar::serve_also`](crate::Registrar::serve_also):
//! it gets an [`ObjectTable`] when the server starts serving, listens
//! where it likes, opens an [`AdapterSession`] for its clients, and turns
//! their requests into the same [`Op`]s mp's proxies send. Values are
//! [`Item`]s whose bytes the adapter chooses; mp's proxies read them as
//! postcard, so an adapter that wants mp clients to read what its clients
//! store writes what a Rust type's postcard encoding would be.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mp_pipe::Connection;

pub use super::object::Stop;
use super::{Caller, Core};
use crate::wire::SessionId;
pub use crate::wire::{
    Answer, Arith, DebugInfo, Fault, Init, Item, NumKind, NumOp, ObjectId, ObjectKind, Op, Wait,
};

/// A running server's objects, as a protocol adapter sees them.
#[derive(Clone)]
pub struct ObjectTable {
    core: Arc<Core>,
}

impl ObjectTable {
    pub(crate) fn new(core: Arc<Core>) -> ObjectTable {
        ObjectTable { core }
    }

    /// A new client session: the objects it creates or increfs are held in
    /// its name. It counts as connected until dropped; then its holds lapse
    /// after the server's grace period, as an mp client's do.
    pub fn open_session(&self) -> AdapterSession {
        let mut random = [0u8; 8];
        random.copy_from_slice(&mp_pipe::random_authkey()[..8]);
        let id = u64::from_le_bytes(random);
        {
            let mut table = self.core.table.lock();
            let session = table.session(id);
            session.conns += 1;
            session.idle_since = None;
        }
        AdapterSession {
            core: self.core.clone(),
            id,
        }
    }

    /// The server's counters (Python's `debug_info`, `number_of_objects`).
    pub fn debug_info(&self) -> DebugInfo {
        self.core.debug_info()
    }

    /// The kind of object `id`.
    pub fn kind(&self, id: ObjectId) -> Result<ObjectKind, Fault> {
        Ok(self.core.lookup(id)?.kind)
    }

    /// Whether the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.core.stopping.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for ObjectTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectTable")
            .field("info", &self.debug_info())
            .finish()
    }
}

/// A session of an adapter's clients (see [`ObjectTable::open_session`]).
///
/// Each request names the connection it came on: an operation that waits
/// gives up when that connection's peer hangs up (or sends anything).
pub struct AdapterSession {
    core: Arc<Core>,
    id: SessionId,
}

impl AdapterSession {
    fn caller<'a>(&'a self, conn: &'a Connection) -> Caller<'a> {
        Caller {
            core: &self.core,
            session: self.id,
            conn,
            discarded: RefCell::default(),
        }
    }

    /// Creates a built-in object, held by this session.
    pub fn create(&self, conn: &Connection, init: Init) -> Result<(ObjectId, ObjectKind), Fault> {
        created(self.core.create(init, &self.caller(conn))?)
    }

    /// Calls a registered typeid (a fixed object, or a callable given
    /// `args`), held by this session.
    pub fn typeid(
        &self,
        conn: &Connection,
        typeid: &str,
        args: &[u8],
    ) -> Result<(ObjectId, ObjectKind), Fault> {
        created(self.core.typeid(typeid, args, &self.caller(conn))?)
    }

    /// Runs `op` on object `id`. `LockAcquire` and friends name a thread;
    /// the lock's owner is that thread of this session.
    pub fn execute(&self, conn: &Connection, id: ObjectId, op: Op) -> Result<Answer, Stop> {
        self.core.lookup(id)?.execute(op, &self.caller(conn))
    }

    /// Adds a hold on `id` for this session.
    pub fn incref(&self, id: ObjectId) -> Result<(), Fault> {
        self.core.table.lock().session_acquire(self.id, id)
    }

    /// Drops one of this session's holds on `id`; false if it had none.
    pub fn decref(&self, id: ObjectId) -> bool {
        self.core.table.lock().session_release(self.id, id)
    }
}

fn created(answer: Answer) -> Result<(ObjectId, ObjectKind), Fault> {
    match answer {
        Answer::Created { id, kind, .. } => Ok((id, kind)),
        other => Err(Fault::BadRequest(format!("unexpected answer {other:?}"))),
    }
}

impl Drop for AdapterSession {
    fn drop(&mut self) {
        let mut table = self.core.table.lock();
        let session = table.session(self.id);
        session.conns = session.conns.saturating_sub(1);
        if session.conns == 0 {
            session.idle_since = Some(Instant::now());
        }
    }
}

impl std::fmt::Debug for AdapterSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterSession")
            .field("id", &self.id)
            .finish()
    }
}
