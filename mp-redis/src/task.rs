//! A pool's keys, and its tasks and results as stream entries.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stream::Entry;

/// The pool name a [`Pool`](crate::Pool) and [`serve`](crate::serve) use
/// unless given another.
pub const DEFAULT_POOL_NAME: &str = "mp-pool";

/// The consumer group of a pool's workers.
pub(crate) const WORKERS: &str = "workers";

/// The keys of one pool name.
#[derive(Clone, Debug)]
pub(crate) struct PoolKeys {
    pub(crate) tasks: String,
    pub(crate) dead: String,
}

impl PoolKeys {
    pub(crate) fn new(name: &str) -> PoolKeys {
        PoolKeys {
            tasks: format!("{name}:tasks"),
            dead: format!("{name}:dead"),
        }
    }

    /// The result stream of one caller.
    pub(crate) fn results(name: &str, caller: &str) -> String {
        format!("{name}:results:{caller}")
    }

    /// The key that says a caller is alive (it expires if the caller dies).
    pub(crate) fn alive(name: &str, caller: &str) -> String {
        format!("{name}:caller:{caller}")
    }
}

/// A task as a worker reads it.
#[derive(Debug)]
pub(crate) struct TaskEntry<'a> {
    pub(crate) task: &'a str,
    pub(crate) reply: &'a str,
    pub(crate) alive: &'a str,
    pub(crate) function: &'a str,
    pub(crate) build: &'a str,
    pub(crate) items: usize,
    pub(crate) args: &'a [u8],
}

impl<'a> TaskEntry<'a> {
    /// `None` for an entry that is not a task (a wake-up).
    pub(crate) fn parse(entry: &'a Entry) -> Option<TaskEntry<'a>> {
        Some(TaskEntry {
            task: entry.text("t")?,
            reply: entry.text("r")?,
            alive: entry.text("a")?,
            function: entry.text("f")?,
            build: entry.text("b")?,
            items: entry.text("n")?.parse().ok()?,
            args: entry.field("x")?,
        })
    }
}

/// What a worker reports for one task: the encoded per-item results (each
/// a postcard `Result<R, String>`), or why there are none.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    Done(#[serde(with = "serde_bytes")] Vec<u8>),
    Failed(Error),
}

/// A result entry as the caller reads it: the task's sequence number and
/// its outcome.
pub(crate) fn parse_result(entry: &Entry) -> Option<(u64, Result<Vec<u8>>)> {
    let seq = entry.text("t")?.parse().ok()?;
    if let Some(lost) = entry.text("l") {
        let deliveries = lost.parse().unwrap_or(0);
        return Some((seq, Err(Error::WorkerLost { deliveries })));
    }
    let outcome = match postcard::from_bytes::<Outcome>(entry.field("o")?) {
        Ok(Outcome::Done(bytes)) => Ok(bytes),
        Ok(Outcome::Failed(e)) => Err(e),
        Err(e) => Err(Error::Decode(format!("a result entry did not decode: {e}"))),
    };
    Some((seq, outcome))
}
