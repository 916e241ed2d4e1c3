//! mp's own log (Python's `multiprocessing.get_logger()` and
//! `log_to_stderr()`): mp reports its events (processes started and
//! ended, pool workers, manager connections, the forkserver) through the
//! [`log`] crate's facade, under targets that start with `mp`, so any
//! logger a program installs sees them. [`log_to_stderr`] installs a small
//! stderr logger in CPython's format when none is installed, and children
//! inherit this process's mp log level (and the stderr logger) under every
//! start method.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};
use serde::{Deserialize, Serialize};

/// The target of the records mp logs, and the prefix of its areas'
/// targets (`mp::process`, `mp::pool`, `mp::manager`, ...).
pub const LOG_TARGET: &str = "mp";

/// mp's level: 0 until set, else `LevelFilter as u8 + 1`.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// Whether this process logs to stderr with [`StderrLogger`].
static TO_STDERR: AtomicBool = AtomicBool::new(false);

static STDERR_LOGGER: StderrLogger = StderrLogger;

/// Whether `target` is one of mp's.
fn is_mp(target: &str) -> bool {
    target
        .strip_prefix(LOG_TARGET)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

fn level() -> Option<LevelFilter> {
    match LEVEL.load(Ordering::Relaxed) {
        0 => None,
        n => LevelFilter::iter().nth(usize::from(n - 1)),
    }
}

fn set_level(level: LevelFilter) {
    LEVEL.store(level as u8 + 1, Ordering::Relaxed);
    if TO_STDERR.load(Ordering::Relaxed) {
        log::set_max_level(level);
    }
}

/// Writes mp's records to stderr as CPython's `log_to_stderr()` does:
/// `[LEVEL/ProcessName] message`.
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_mp(metadata.target()) && level().is_some_and(|max| metadata.level() <= max)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let name = crate::current_process().name().to_owned();
        let line = format!(
            "[{}/{name}] {}\n",
            level_name(record.level()),
            record.args()
        );
        // One write: lines of processes sharing stderr do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// CPython's names of the levels (`WARNING`, not `WARN`).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// mp's logger (Python's `multiprocessing.get_logger()`): its level, which
/// children inherit, and a way to log under mp's target.
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(process), "::log::LevelFilter;")]
///
#[doc = concat!("let logger = ", crate::mp_crate!(process), "::get_logger();")]
/// logger.set_level(LevelFilter::Warn);
/// assert_eq!(logger.level(), Some(LevelFilter::Warn));
/// logger.warning("seen by whatever logger is installed, under target \"mp\"");
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Logger;

impl Logger {
    /// mp's level (`None` until [`set_level`](Logger::set_level) or
    /// [`log_to_stderr`] set one).
    pub fn level(&self) -> Option<LevelFilter> {
        level()
    }

    /// Sets mp's level: what the stderr logger of [`log_to_stderr`] prints,
    /// and what children start with (Python's `logger.setLevel`).
    #[doc(alias = "setLevel")]
    pub fn set_level(&self, level: LevelFilter) {
        set_level(level);
    }

    /// Logs `message` at `level` under mp's target.
    pub fn log(&self, level: Level, message: impl fmt::Display) {
        log::log!(target: LOG_TARGET, level, "{message}");
    }

    /// Logs at `ERROR`.
    pub fn error(&self, message: impl fmt::Display) {
        self.log(Level::Error, message);
    }

    /// Logs at `WARNING`.
    pub fn warning(&self, message: impl fmt::Display) {
        self.log(Level::Warn, message);
    }

    /// Logs at `INFO`.
    pub fn info(&self, message: impl fmt::Display) {
        self.log(Level::Info, message);
    }

    /// Logs at `DEBUG`.
    pub fn debug(&self, message: impl fmt::Display) {
        self.log(Level::Debug, message);
    }
}

/// mp's logger (Python's `multiprocessing.get_logger()`).
pub fn get_logger() -> Logger {
    Logger
}

/// Logs mp's records at `level` and above to stderr as
/// `[LEVEL/ProcessName] message` (Python's `log_to_stderr(level)`), in
/// this process and in the children it starts from now on, under every
/// start method. Installs mp's small stderr logger unless the program
/// already installed a logger of its own, which then receives mp's
/// records instead (their targets start with [`LOG_TARGET`]).
///
/// # Example
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(process), "::log::LevelFilter;")]
#[doc = concat!("use ", crate::mp_crate!(process), "::Process;")]
///
/// fn work() {}
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(process), "::Error> {")]
#[doc = concat!(crate::mp_crate!(process), "::log_to_stderr(LevelFilter::Info);")]
/// let mut p = Process::new(work, ());
/// p.start()?;
/// p.join()?;
/// // stderr shows, among others:
/// // [INFO/Process-1] child process calling self.run()
/// // [INFO/Process-1] process exiting with exitcode 0
/// # Ok(())
/// # }
/// ```
pub fn log_to_stderr(level: LevelFilter) -> Logger {
    if !TO_STDERR.load(Ordering::Relaxed) && log::set_logger(&STDERR_LOGGER).is_ok() {
        TO_STDERR.store(true, Ordering::Relaxed);
    }
    set_level(level);
    Logger
}

/// What a child inherits of its parent's log settings.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Inherited {
    /// The parent's `LEVEL`.
    level: u8,
    to_stderr: bool,
}

/// This process's settings, for a child.
pub(crate) fn inherited() -> Inherited {
    Inherited {
        level: LEVEL.load(Ordering::Relaxed),
        to_stderr: TO_STDERR.load(Ordering::Relaxed),
    }
}

/// Takes on the parent's settings (a child starting).
pub(crate) fn inherit(from: Inherited) {
    let Some(level) = LevelFilter::iter().nth(usize::from(from.level).wrapping_sub(1)) else {
        return;
    };
    if from.to_stderr {
        log_to_stderr(level);
    } else {
        set_level(level);
    }
}
