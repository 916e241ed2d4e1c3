//! The server: a table of objects with their holds, the client sessions,
//! and one thread per client connection (as in CPython), so a slow or
//! misbehaving client never blocks the others. One thread accepts: the
//! listener drives every pending handshake at once, so no number of
//! silent or garbage-sending peers delays a client that authenticates.

pub mod adapter;
mod greet;
mod iterate;
mod object;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mp_pipe::{Address, Connection, Listener, ListenerStats};
use parking_lot::Mutex;

use crate::error::RemoteError;
use crate::registry::{Entry, Registrar, Service};
use crate::wire::{
    Answer, DebugInfo, Fault, Init, ObjectId, ObjectKind, Op, Reply, Request, SessionId,
};
use object::{Object, Stop};

/// How long an object without holds, or a session without connections,
/// lingers before it is freed (a forked child may still re-home a proxy,
/// a pool may be reconnecting).
pub(crate) const GRACE: Duration = Duration::from_secs(1);
/// How often the reaper looks for expired objects and sessions.
const REAP_EVERY: Duration = Duration::from_millis(200);
/// How long a new peer has to authenticate.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared state of a running server.
pub(crate) struct Core {
    table: Mutex<Table>,
    typeids: HashMap<String, Typeid>,
    stopping: AtomicBool,
    connections: AtomicU64,
    /// The listener's counters (peers refused by the handshake).
    listener: OnceLock<ListenerStats>,
    /// Operations waiting for a change (see [`DebugInfo::waiting`]).
    waiting: AtomicU64,
    /// Requests answered (see [`DebugInfo::round_trips`]).
    round_trips: AtomicU64,
}

enum Typeid {
    Fixed(ObjectId),
    Callable(crate::registry::Callable),
}

/// A map keyed by object ids (see [`IdHasher`]).
type IdMap<V> = HashMap<ObjectId, V, BuildHasherDefault<IdHasher>>;

struct Table {
    slots: IdMap<Slot>,
    sessions: HashMap<SessionId, Session>,
    next_id: ObjectId,
}

struct Slot {
    object: Arc<Object>,
    holds: u64,
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct Session {
    conns: u64,
    /// Only ids of existing objects get in (a hold is taken on the object
    /// first), so these too are ids the server made.
    holds: IdMap<u64>,
    idle_since: Option<Instant>,
}

/// Hashes object ids for the object table, which every call looks up.
///
/// The ids are made here (a random base plus a counter), never chosen by a
/// client, so they need no keyed hash: one multiplication spreads a run of
/// counters over the whole table.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Not used by `u64` keys; there for completeness of the trait.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Table {
    fn incref(&mut self, id: ObjectId) -> Result<(), Fault> {
        let slot = self.slots.get_mut(&id).ok_or(Fault::UnknownObject(id))?;
        slot.holds += 1;
        slot.idle_since = None;
        Ok(())
    }

    fn decref(&mut self, id: ObjectId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.holds = slot.holds.saturating_sub(1);
            if slot.holds == 0 {
                slot.idle_since = Some(Instant::now());
            }
        }
    }

    fn session(&mut self, session: SessionId) -> &mut Session {
        self.sessions.entry(session).or_insert_with(|| Session {
            idle_since: Some(Instant::now()),
            ..Session::default()
        })
    }

    fn session_acquire(&mut self, session: SessionId, id: ObjectId) -> Result<(), Fault> {
        self.incref(id)?;
        *self.session(session).holds.entry(id).or_insert(0) += 1;
        Ok(())
    }

    /// Drops one of the session's holds on `id`; false if it had none.
    fn session_release(&mut self, session: SessionId, id: ObjectId) -> bool {
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        let Some(n) = s.holds.get_mut(&id) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            s.holds.remove(&id);
        }
        self.decref(id);
        true
    }

    fn insert(&mut self, object: Object, session: Option<SessionId>) -> ObjectId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.slots.insert(
            id,
            Slot {
                object: Arc::new(object),
                holds: 1,
                idle_since: None,
            },
        );
        if let Some(session) = session {
            *self.session(session).holds.entry(id).or_insert(0) += 1;
        }
        id
    }
}

/// The client a request comes from (its session and connection), and the
/// server it is served by: what an operation needs to hold, grant and
/// release objects for it and to notice that it hung up.
pub(crate) struct Caller<'a> {
    core: &'a Core,
    session: SessionId,
    conn: &'a Connection,
    /// Buffers an operation let go of, freed once its reply is sent (see
    /// [`Caller::discard`]).
    discarded: RefCell<Vec<Vec<u8>>>,
}

impl Caller<'_> {
    /// Takes holds for the objects a stored item refers to; all or none.
    pub(crate) fn hold(&self, refs: &[ObjectId]) -> Result<(), Fault> {
        if refs.is_empty() {
            return Ok(());
        }
        let mut table = self.core.table.lock();
        if let Some(&missing) = refs.iter().find(|id| !table.slots.contains_key(id)) {
            return Err(Fault::UnknownObject(missing));
        }
        for &id in refs {
            table.incref(id).expect("checked above");
        }
        Ok(())
    }

    /// Drops the holds of a removed item.
    pub(crate) fn release(&self, refs: impl IntoIterator<Item = ObjectId>) {
        let mut refs = refs.into_iter().peekable();
        if refs.peek().is_none() {
            return;
        }
        let mut table = self.core.table.lock();
        for id in refs {
            table.decref(id);
        }
    }

    /// Gives the caller's session a hold on each object an item handed to
    /// it refers to (its proxies adopt them when they decode).
    pub(crate) fn grant(&self, refs: &[ObjectId]) {
        if refs.is_empty() {
            return;
        }
        let mut table = self.core.table.lock();
        for &id in refs {
            // An item's refs are held by the item, so they exist.
            let _ = table.session_acquire(self.session, id);
        }
    }

    /// Frees `bytes` after the reply to this request is sent: the client
    /// waits for the reply, not for the server's housekeeping.
    pub(crate) fn discard(&self, bytes: Vec<u8>) {
        if bytes.capacity() != 0 {
            self.discarded.borrow_mut().push(bytes);
        }
    }

    /// Frees what [`discard`](Caller::discard) kept.
    fn free_discarded(&self) {
        self.discarded.borrow_mut().clear();
    }

    /// The lock owner identity of `thread` of this client.
    pub(crate) fn owner(&self, thread: u64) -> object::Owner {
        object::Owner::new(self.session, thread)
    }

    /// Counts an operation of this client as waiting for a change until
    /// the guard drops.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.core.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.core.waiting)
    }

    /// Whether a blocked operation should give up: its client hung up (or
    /// sent something while it waits, which a well-behaved client never
    /// does), or the server is stopping.
    pub(crate) fn gone(&self) -> bool {
        self.core.stopping.load(Ordering::Relaxed) || self.conn.poll(Duration::ZERO).unwrap_or(true)
    }
}

/// An operation waiting for a change (see [`Caller::waiting`]).
pub(crate) struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Core {
    /// A server core with the registrations of `registrar` (fixed objects are
    /// created now).
    pub(crate) fn new(registrar: Registrar) -> Core {
        let mut random = [0u8; 8];
        random.copy_from_slice(&mp_pipe::random_authkey()[..8]);
        // Ids start at a random point below 2^63, so a restarted server's ids
        // do not match a stale proxy's.
        let mut table = Table {
            slots: HashMap::default(),
            sessions: HashMap::new(),
            next_id: (u64::from_le_bytes(random) >> 1) | 1,
        };
        let mut typeids = HashMap::new();
        for (name, entry) in registrar.entries {
            let typeid = match entry {
                Entry::Object(object) => {
                    let object = Object::from_blueprint(object.0, Some(name.clone()));
                    Typeid::Fixed(table.insert(object, None))
                }
                Entry::Callable(callable) => Typeid::Callable(callable),
            };
            typeids.insert(name, typeid);
        }
        Core {
            table: Mutex::new(table),
            typeids,
            stopping: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            listener: OnceLock::new(),
            waiting: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
        }
    }

    fn lookup(&self, id: ObjectId) -> Result<Arc<Object>, Fault> {
        self.table
            .lock()
            .slots
            .get(&id)
            .map(|slot| slot.object.clone())
            .ok_or(Fault::UnknownObject(id))
    }

    fn created(&self, id: ObjectId, object: &Object) -> Answer {
        Answer::Created {
            id,
            kind: object.kind,
            typeid: object.typeid.clone(),
        }
    }

    /// Handles one request; `None` for requests without a reply.
    fn handle(&self, request: Request, caller: &Caller<'_>) -> Result<Option<Answer>, Stop> {
        if !matches!(request, Request::DecRef { .. }) {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        let answer = match request {
            Request::Hello { .. } | Request::HelloPipe { .. } => {
                return Err(Fault::BadRequest("a second Hello on one connection".into()).into());
            }
            Request::Create(init) => self.create(init, caller)?,
            Request::Typeid { typeid, args } => self.typeid(&typeid, &args, caller)?,
            Request::Call {
                id,
                op: op @ (Op::Iterate { .. } | Op::IterateMethod { .. }),
            } => self.iterate(id, op, caller)?,
            Request::Call { id, op } => self.lookup(id)?.execute(op, caller)?,
            Request::IncRef { id } => {
                self.table.lock().session_acquire(caller.session, id)?;
                Answer::Unit
            }
            Request::DecRef { id } => {
                self.table.lock().session_release(caller.session, id);
                return Ok(None);
            }
            Request::Adopt { from, id } => {
                let mut table = self.table.lock();
                if table.session_release(from, id) {
                    // The parked hold moves; the object cannot lapse in between.
                    table.session_acquire(caller.session, id)?;
                } else {
                    table.session_acquire(caller.session, id)?;
                }
                Answer::Unit
            }
            Request::DebugInfo => Answer::Info(self.debug_info()),
        };
        Ok(Some(answer))
    }

    fn create(&self, init: Init, caller: &Caller<'_>) -> Result<Answer, Fault> {
        let refs: Vec<ObjectId> = match &init {
            Init::List(items) | Init::Array(items) => {
                items.iter().flat_map(|i| i.refs.iter().copied()).collect()
            }
            Init::Dict(pairs) | Init::Namespace(pairs) => pairs
                .iter()
                .flat_map(|(_, i)| i.refs.iter().copied())
                .collect(),
            Init::Value(item) => item.refs.clone(),
            _ => Vec::new(),
        };
        if let Init::Barrier { parties: 0 } = init {
            return Err(Fault::BadRequest(
                "a barrier needs at least one party".into(),
            ));
        }
        caller.hold(&refs)?;
        let object = Object::from_init(init);
        let kind = object.kind;
        let id = self.table.lock().insert(object, Some(caller.session));
        Ok(Answer::Created {
            id,
            kind,
            typeid: None,
        })
    }

    fn typeid(&self, typeid: &str, args: &[u8], caller: &Caller<'_>) -> Result<Answer, Fault> {
        match self.typeids.get(typeid) {
            None => Err(Fault::UnknownTypeid(typeid.to_owned())),
            Some(Typeid::Fixed(id)) => {
                let object = self.lookup(*id)?;
                self.table.lock().session_acquire(caller.session, *id)?;
                Ok(self.created(*id, &object))
            }
            Some(Typeid::Callable(callable)) => {
                let made = catch_unwind(AssertUnwindSafe(|| callable(args))).unwrap_or_else(|p| {
                    Err(RemoteError::new(format!(
                        "the constructor of {typeid:?} panicked: {}",
                        mp_internal::panic_message(&*p)
                    )))
                });
                let blueprint = made.map_err(Fault::Remote)?;
                let object = Object::from_blueprint(blueprint.0, Some(typeid.to_owned()));
                let answer_kind = object.kind;
                let id = self.table.lock().insert(object, Some(caller.session));
                Ok(Answer::Created {
                    id,
                    kind: answer_kind,
                    typeid: Some(typeid.to_owned()),
                })
            }
        }
    }

    fn debug_info(&self) -> DebugInfo {
        let table = self.table.lock();
        DebugInfo {
            objects: table.slots.len() as u64,
            sessions: table.sessions.len() as u64,
            connections: self.connections.load(Ordering::Relaxed),
            refused: self.listener.get().map_or(0, ListenerStats::refused),
            waiting: self.waiting.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
        }
    }

    /// Frees objects and ends sessions that have lingered past [`GRACE`].
    fn reap(&self) {
        let now = Instant::now();
        let expired =
            |since: Option<Instant>| since.is_some_and(|t| now.duration_since(t) >= GRACE);
        let (ended, freed, locks) = {
            let mut table = self.table.lock();
            let ended: Vec<(SessionId, Session)> = {
                let ids: Vec<SessionId> = table
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.conns == 0 && expired(s.idle_since))
                    .map(|(&id, _)| id)
                    .collect();
                ids.into_iter()
                    .filter_map(|id| table.sessions.remove(&id).map(|s| (id, s)))
                    .collect()
            };
            for (_, session) in &ended {
                for (&id, &n) in &session.holds {
                    for _ in 0..n {
                        table.decref(id);
                    }
                }
            }
            let freed_ids: Vec<ObjectId> = table
                .slots
                .iter()
                .filter(|(_, s)| s.holds == 0 && expired(s.idle_since))
                .map(|(&id, _)| id)
                .collect();
            let freed: Vec<Arc<Object>> = freed_ids
                .iter()
                .filter_map(|id| table.slots.remove(id).map(|s| s.object))
                .collect();
            let locks: Vec<Arc<Object>> = if ended.is_empty() {
                Vec::new()
            } else {
                table
                    .slots
                    .values()
                    .filter(|s| {
                        matches!(
                            s.object.kind,
                            ObjectKind::Lock | ObjectKind::RLock | ObjectKind::Condition
                        )
                    })
                    .map(|s| s.object.clone())
                    .collect()
            };
            (ended, freed, locks)
        };
        // Object locks are taken only with the table unlocked.
        for (session, _) in &ended {
            for lock in &locks {
                lock.session_ended(*session);
            }
        }
        let mut released = Vec::new();
        for object in freed {
            released.extend(object.drain_refs());
        }
        if !released.is_empty() {
            let mut table = self.table.lock();
            for id in released {
                table.decref(id);
            }
        }
    }

    /// Serves one connection until it closes.
    fn serve_connection(self: Arc<Core>, socket: Connection) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        let Some((session, conn)) = self.greet(socket) else {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            return;
        };
        {
            let mut table = self.table.lock();
            let s = table.session(session);
            s.conns += 1;
            s.idle_since = None;
        }
        let caller = Caller {
            core: &self,
            session,
            conn: &conn,
            discarded: RefCell::default(),
        };
        loop {
            // After the reply to the last request went out.
            caller.free_discarded();
            let request = match conn.recv::<Request>() {
                Ok(request) => request,
                Err(mp_pipe::Error::Decode(e)) => {
                    // Garbage inside a well-formed frame: the stream is still
                    // in step, so say so and keep serving this client.
                    let reply = Reply(Err(Fault::BadRequest(format!("undecodable request: {e}"))));
                    if conn.send(&reply).is_err() {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    reply_to_bad_frame(&conn, e);
                    break;
                }
            };
            let reply = match self.handle(request, &caller) {
                Ok(None) => continue,
                Ok(Some(answer)) => Reply(Ok(answer)),
                Err(Stop::Fault(fault)) => Reply(Err(fault)),
                Err(Stop::Abandon) => break,
            };
            if conn.send(&reply).is_err() {
                break;
            }
        }
        let mut table = self.table.lock();
        let s = table.session(session);
        s.conns = s.conns.saturating_sub(1);
        if s.conns == 0 {
            s.idle_since = Some(Instant::now());
        }
        drop(table);
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tells a client why its connection is being dropped, when it can be told.
fn reply_to_bad_frame(conn: &Connection, e: mp_pipe::Error) {
    let fault = match e {
        mp_pipe::Error::MessageTooLarge { len, limit } => Fault::MessageTooLarge { len, limit },
        mp_pipe::Error::Decode(e) => Fault::BadRequest(format!("undecodable request: {e}")),
        // End of file, a torn frame, a broken socket: nobody to tell.
        _ => return,
    };
    let _ = conn.send_timeout(&Reply(Err(fault)), Duration::from_secs(1));
}

/// How the server's listener speaks beyond its address and key: TLS (with
/// the `tls` feature).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ServerTransport {
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<mp_pipe::tls::TlsServer>,
}

/// A bound server, ready to serve.
pub(crate) struct Bound {
    listener: Listener,
    core: Arc<Core>,
    /// Protocol adapters to run beside the listener ([`Registrar::serve_also`]).
    services: Vec<Service>,
}

impl Bound {
    pub(crate) fn bind(
        address: Address,
        authkey: Option<&[u8]>,
        max_message_size: u64,
        transport: ServerTransport,
        mut registrar: Registrar,
    ) -> Result<Bound, mp_pipe::Error> {
        let services = std::mem::take(&mut registrar.services);
        let _ = &transport;
        let mut builder = Listener::builder(address)
            .max_message_size(max_message_size)
            .handshake_timeout(HANDSHAKE_TIMEOUT);
        if let Some(key) = authkey {
            builder = builder.authkey(key);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = transport.tls {
            builder = builder.tls(tls);
        }
        let listener = builder.bind()?;
        let core = Core::new(registrar);
        let _ = core.listener.set(listener.stats().clone());
        Ok(Bound {
            listener,
            core: Arc::new(core),
            services,
        })
    }

    pub(crate) fn address(&self) -> &Address {
        self.listener.address()
    }

    /// Accepts and serves clients; returns only if the listener fails.
    pub(crate) fn serve_forever(self) -> std::io::Result<()> {
        let core = self.core.clone();
        std::thread::Builder::new()
            .name("mp-manager-reaper".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(REAP_EVERY);
                    core.reap();
                }
            })?;
        for service in self.services {
            let table = adapter::ObjectTable::new(self.core.clone());
            std::thread::Builder::new()
                .name("mp-manager-adapter".into())
                .spawn(move || service(table))?;
        }
        accept_loop(&self.listener, &self.core);
        Ok(())
    }
}

/// Accepts clients (the listener runs their handshakes, all at once) and
/// gives each its own thread; returns when the listener is closed.
fn accept_loop(listener: &Listener, core: &Arc<Core>) {
    loop {
        match listener.accept() {
            Ok(conn) => {
                log::debug!(
                    target: "mp::manager",
                    "manager accepted a connection from {}",
                    listener
                        .last_accepted()
                        .map_or_else(|| "an unnamed peer".to_owned(), |a| a.to_string())
                );
                let core = core.clone();
                // If no thread can be made, the connection is dropped: that
                // client sees the manager as closed, the others carry on.
                let _ = std::thread::Builder::new()
                    .name("mp-manager-client".into())
                    .spawn(move || core.serve_connection(conn));
            }
            Err(mp_pipe::Error::Closed) => return,
            // Out of descriptors (or memory): pause briefly, keep accepting.
            // (Peers that fail the handshake never reach here: the listener
            // counts them.)
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
