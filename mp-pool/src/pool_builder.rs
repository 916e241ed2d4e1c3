//! `PoolBuilder`: the settings of a new `Pool`, checked when it starts.

use std::fmt;

use mp_process::{Args, StartMethod, Target};

use crate::error::{Error, Result};
use crate::interrupt;
use crate::pool::Pool;
use crate::scheduler::{Config, Scheduler};
use crate::wire::Init;

/// The task ring of each worker unless set with [`PoolBuilder::ring_size`].
pub const DEFAULT_RING_SIZE: usize = 1 << 20;

/// Settings for a new [`Pool`] (Python's `Pool(processes, initializer,
/// initargs, maxtasksperchild)` keyword arguments).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(pool), "::Pool;")]
///
/// fn setup(greeting: String) {
///     println!("{greeting} from a new worker");
/// }
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(setup, ("hello".to_string(),))
///     .maxtasksperchild(100)
///     .build()?;
/// assert_eq!(pool.processes(), 2);
/// # Ok(())
/// # }
/// ```
pub struct PoolBuilder {
    pub(crate) processes: Option<usize>,
    init: Option<Result<Init>>,
    maxtasks: Option<u64>,
    method: Option<StartMethod>,
    ring_size: usize,
    window: Option<usize>,
}

impl Default for PoolBuilder {
    fn default() -> PoolBuilder {
        PoolBuilder::new()
    }
}

impl PoolBuilder {
    /// Default settings: [`cpu_count()`](mp_process::cpu_count) workers, no
    /// initializer, workers live as long as the pool, mp's default start
    /// method (the forkserver).
    pub fn new() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            init: None,
            maxtasks: None,
            method: None,
            ring_size: DEFAULT_RING_SIZE,
            window: None,
        }
    }

    /// The number of worker processes (at least 1).
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args...)` once in every worker when it starts (Python's
    /// `initializer` and `initargs`). A panic in it stops the pool: every
    /// unfinished and later task fails with [`Error::Initializer`].
    ///
    /// `args` may hold OS handles (a `Queue`, `Connection`, `Value`, ...):
    /// every worker, also one that replaces another, gets its own copy, as
    /// Python's workers inherit their `initargs`. This is how a worker gets
    /// a handle; a task's arguments cannot carry one.
    #[doc(alias = "initargs")]
    pub fn initializer<F, A>(mut self, f: F, args: A) -> PoolBuilder
    where
        F: Target<A, Output = ()>,
        A: Args,
    {
        self.init = Some(Init::new(f, &args));
        self
    }

    /// Replaces each worker after it has run `k` tasks (Python's
    /// `maxtasksperchild`; a task is a chunk, as in Python).
    pub fn maxtasksperchild(mut self, k: u64) -> PoolBuilder {
        self.maxtasks = Some(k);
        self
    }

    /// Starts workers with `method` instead of mp's default.
    pub fn start_method(mut self, method: StartMethod) -> PoolBuilder {
        self.method = Some(method);
        self
    }

    /// The size in bytes of each worker's task ring (default
    /// [`DEFAULT_RING_SIZE`]); a chunk larger than this still goes through,
    /// streamed while the worker takes it.
    pub fn ring_size(mut self, bytes: usize) -> PoolBuilder {
        self.ring_size = bytes;
        self
    }

    /// How many chunks `imap`/`imap_unordered` keep in flight (default:
    /// 4 per worker, at least 8).
    pub fn imap_window(mut self, chunks: usize) -> PoolBuilder {
        self.window = Some(chunks);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(mp_process::cpu_count);
        if processes == 0 {
            return Err(Error::InvalidSetting(
                "processes must be at least 1".to_owned(),
            ));
        }
        if self.maxtasks == Some(0) {
            return Err(Error::InvalidSetting(
                "maxtasksperchild must be at least 1".to_owned(),
            ));
        }
        if !(4096..=mp_queue::MAX_RING_SIZE).contains(&self.ring_size) {
            return Err(Error::InvalidSetting(format!(
                "ring_size must be between 4096 and {} bytes",
                mp_queue::MAX_RING_SIZE
            )));
        }
        if self.window == Some(0) {
            return Err(Error::InvalidSetting(
                "imap_window must be at least 1".to_owned(),
            ));
        }
        let init = self.init.transpose()?;
        interrupt::install();
        let config = Config {
            processes,
            maxtasks: self.maxtasks,
            method: self.method,
            init,
            ring_size: self.ring_size,
            result_ring_size: (self.ring_size * 4).clamp(8 << 20, mp_queue::MAX_RING_SIZE),
            window: self.window.unwrap_or((4 * processes).max(8)),
        };
        Ok(Pool {
            scheduler: Scheduler::start(config)?,
        })
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.init.is_some())
            .field("maxtasksperchild", &self.maxtasks)
            .field("start_method", &self.method)
            .field("ring_size", &self.ring_size)
            .finish()
    }
}
