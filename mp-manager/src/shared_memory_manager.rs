//! [`SharedMemoryManager`]: a manager that hands out `SharedMemory` and
//! `ShareableList` segments and unlinks every one of them when it shuts
//! down or its owner dies (Python's
//! `multiprocessing.managers.SharedMemoryManager`).

use std::collections::HashMap;
use std::fmt;

use mp_shm::{Item, ShareableList, SharedMemory};

use crate::RemoteError;
use crate::error::{Error, Result};
use crate::manager::{BaseManager, Manager};
use crate::proxy::SharedProxy;
use crate::registry::{Registrar, Registry, ServerObject, Shared, decode_args, encode_result};

/// The typeid of the segment table on the server.
const SEGMENTS: &str = "SharedMemoryManager.segments";

/// A manager of shared memory segments (Python's `SharedMemoryManager`).
///
/// [`start`](SharedMemoryManager::start) starts its server process; from
/// then on [`shared_memory`](SharedMemoryManager::shared_memory) and
/// [`shareable_list`](SharedMemoryManager::shareable_list) create segments
/// *in the server*, which owns them, and return handles attached to them
/// (use them, clone them, pass them to children: dropping them unlinks
/// nothing). Using it before `start` is [`Error::NotStarted`].
///
/// Every segment it handed out is unlinked:
///
/// - by [`shutdown`](SharedMemoryManager::shutdown) (or drop), before it
///   returns;
/// - when its owner dies, even by SIGKILL: the server dies with its owner,
///   and, as the creator of the segments, its cleanup tracker (mp-shm's
///   `resource_tracker`) unlinks them as soon as it is gone.
///
/// A segment unlinked early by hand is simply skipped.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(manager), "::SharedMemoryManager;")]
#[doc = concat!("use ", crate::mp_crate!(shm), "::Item;")]
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
/// let mut smm = SharedMemoryManager::new();
#[doc = concat!("assert!(matches!(smm.shared_memory(64), Err(", crate::mp_crate!(manager), "::Error::NotStarted)));")]
/// smm.start()?;
/// let shm = smm.shared_memory(64)?;
#[doc = concat!("shm.write_at(0, b\"hello\").map_err(", crate::mp_crate!(manager), "::Error::Shm)?;")]
/// let list = smm.shareable_list([Item::Int(1), Item::from("two")])?;
#[doc = concat!("assert_eq!(list.get(1).map_err(", crate::mp_crate!(manager), "::Error::Shm)?, Item::from(\"two\"));")]
/// let names = [shm.name().to_owned(), list.name().to_owned()];
/// smm.shutdown()?;
/// for name in names {
///     assert!(!std::path::Path::new(&format!("/dev/shm/{name}")).exists());
/// }
/// # Ok(())
/// # }
/// ```
pub struct SharedMemoryManager {
    state: State,
}

enum State {
    NotStarted(Box<BaseManager>),
    Running(Box<Running>),
    ShutDown,
}

struct Running {
    manager: Manager,
    table: SharedProxy,
}

impl Default for SharedMemoryManager {
    fn default() -> SharedMemoryManager {
        SharedMemoryManager::new()
    }
}

impl SharedMemoryManager {
    /// A manager with the defaults, not started yet.
    pub fn new() -> SharedMemoryManager {
        SharedMemoryManager::with_settings(BaseManager::new())
    }

    /// A manager with `settings` (address, authkey, start method,
    /// initializer), not started yet. Its registry is replaced by the
    /// segment table.
    pub fn with_settings(settings: BaseManager) -> SharedMemoryManager {
        SharedMemoryManager {
            state: State::NotStarted(Box::new(settings)),
        }
    }

    /// Starts the server process (Python's `start()`). Starting twice, or
    /// after shutdown, is [`Error::Start`].
    pub fn start(&mut self) -> Result<()> {
        let settings = match std::mem::replace(&mut self.state, State::ShutDown) {
            State::NotStarted(settings) => *settings,
            other => {
                self.state = other;
                return Err(Error::Start(
                    "this SharedMemoryManager was already started".into(),
                ));
            }
        };
        let manager = settings.registry::<SegmentRegistry>().start()?;
        let table = manager.get(SEGMENTS)?;
        self.state = State::Running(Box::new(Running { manager, table }));
        Ok(())
    }

    fn table(&self) -> Result<&SharedProxy> {
        match &self.state {
            State::NotStarted(_) => Err(Error::NotStarted),
            State::Running(running) => Ok(&running.table),
            State::ShutDown => Err(Error::ManagerClosed),
        }
    }

    /// A new segment of `size` bytes, zero-filled, owned by the server
    /// (Python's `smm.SharedMemory(size)`).
    #[doc(alias = "SharedMemory")]
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory> {
        let name: String = self.table()?.call("shared_memory", &(size as u64,))?;
        SharedMemory::open(&name).map_err(Error::Shm)
    }

    /// A new `ShareableList` of `items`, owned by the server (Python's
    /// `smm.ShareableList(sequence)`).
    #[doc(alias = "ShareableList")]
    pub fn shareable_list<I>(&self, items: I) -> Result<ShareableList>
    where
        I: IntoIterator,
        I::Item: Into<Item>,
    {
        let items: Vec<Item> = items.into_iter().map(Into::into).collect();
        let name: String = self.table()?.call("shareable_list", &(items,))?;
        ShareableList::open(&name).map_err(Error::Shm)
    }

    /// The names of the segments handed out so far (and not yet unlinked
    /// by the manager).
    pub fn segment_names(&self) -> Result<Vec<String>> {
        self.table()?.call("names", &())
    }

    /// The server's process id, once started.
    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            State::Running(running) => running.manager.pid(),
            _ => None,
        }
    }

    /// Unlinks every segment handed out, then stops the server (Python's
    /// `shutdown()`). Calling it again, or before `start`, does nothing.
    pub fn shutdown(&mut self) -> Result<()> {
        if !matches!(self.state, State::Running(_)) {
            return Ok(());
        }
        let State::Running(running) = std::mem::replace(&mut self.state, State::ShutDown) else {
            unreachable!("matched above")
        };
        let Running { manager, table } = *running;
        // If the server is already gone, its cleanup tracker unlinks them.
        let released = table.call::<_, u64>("release_all", &());
        drop(table);
        manager.shutdown()?;
        released.map(|_| ())
    }
}

impl Drop for SharedMemoryManager {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl fmt::Debug for SharedMemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::NotStarted(_) => "not started",
            State::Running(_) => "running",
            State::ShutDown => "shut down",
        };
        f.debug_struct("SharedMemoryManager")
            .field("state", &state)
            .field("pid", &self.pid())
            .finish()
    }
}

/// The server's side: the segment table, registered as one fixed object.
struct SegmentRegistry;

impl Registry for SegmentRegistry {
    fn register(registrar: &mut Registrar) {
        registrar.register(SEGMENTS, ServerObject::shared(SegmentTable::default()));
    }
}

/// The segments a server created, by name; their handles are the creating
/// ones, so the server's cleanup tracker covers them if it dies.
#[derive(Default)]
struct SegmentTable {
    segments: HashMap<String, Segment>,
}

enum Segment {
    Memory(SharedMemory),
    List(ShareableList),
}

impl Segment {
    fn unlink(&self) {
        let shm = match self {
            Segment::Memory(shm) => shm,
            Segment::List(list) => list.shm(),
        };
        // Already unlinked by a client: nothing left to do.
        let _ = shm.unlink();
    }
}

fn shm_error(e: mp_shm::Error) -> RemoteError {
    RemoteError::new(e.to_string())
}

impl Shared for SegmentTable {
    fn exposed() -> &'static [&'static str] {
        &["shared_memory", "shareable_list", "names", "release_all"]
    }

    fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, RemoteError> {
        match method {
            "shared_memory" => {
                let (size,): (u64,) = decode_args(args)?;
                let size = usize::try_from(size)
                    .map_err(|_| RemoteError::new(format!("{size} bytes do not fit this host")))?;
                let shm = SharedMemory::create(None, size).map_err(shm_error)?;
                let name = shm.name().to_owned();
                self.segments.insert(name.clone(), Segment::Memory(shm));
                encode_result(&name)
            }
            "shareable_list" => {
                let (items,): (Vec<Item>,) = decode_args(args)?;
                let list = ShareableList::create(None, items).map_err(shm_error)?;
                let name = list.name().to_owned();
                self.segments.insert(name.clone(), Segment::List(list));
                encode_result(&name)
            }
            "names" => encode_result(&self.segments.keys().collect::<Vec<_>>()),
            "release_all" => {
                let n = self.segments.len() as u64;
                for (_, segment) in self.segments.drain() {
                    segment.unlink();
                }
                encode_result(&n)
            }
            _ => Err(RemoteError::new(format!("no method {method}"))),
        }
    }
}
