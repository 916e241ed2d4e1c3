//! `JoinableQueue`: a queue whose unfinished-task count lives in Redis, so
//! `task_done` and `join` work across hosts.

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redis::Script;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::link;
use crate::queue::{Queue, QueueBuilder, deadline_after, encode};

/// `task_done`: -1 if nothing was unfinished.
static TASK_DONE: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
"#,
    )
});

/// A [`Queue`] whose consumers report each item done, so producers on any
/// host can wait until all work is finished (Python's `JoinableQueue`).
/// The count of unfinished tasks lives in Redis.
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> JoinableQueue<T> {
    pub(crate) fn from_queue(queue: Queue<T>) -> JoinableQueue<T> {
        JoinableQueue { queue }
    }

    /// Opens the joinable queue `name` on the Redis at `url`.
    pub fn open(url: &str, name: &str) -> Result<JoinableQueue<T>> {
        QueueBuilder::new(url, name).build_joinable()
    }

    /// Opens it holding at most `n` waiting items.
    pub fn with_maxsize(url: &str, name: &str, n: usize) -> Result<JoinableQueue<T>> {
        QueueBuilder::new(url, name).maxsize(n).build_joinable()
    }

    /// Marks one item taken with `get` as done (Python's `task_done`); more
    /// calls than items put is [`Error::TooManyTaskDone`].
    pub fn task_done(&self) -> Result<()> {
        let core = &self.queue.core;
        let mut inv = TASK_DONE.prepare_invoke();
        inv.key(&core.keys.unfinished);
        let n: i64 = core.links.with(|l| l.script(&inv))?;
        if n < 0 {
            return Err(Error::TooManyTaskDone);
        }
        Ok(())
    }

    /// Waits until every item put (by anyone) has been marked done
    /// (Python's `join`).
    pub fn join(&self) -> Result<()> {
        self.join_until(None)
    }

    /// Like [`join`](JoinableQueue::join), giving up with [`Error::Timeout`]
    /// after `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.join_until(deadline_after(timeout))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<()> {
        let mut pause = Duration::from_millis(1);
        loop {
            self.queue.core.check_open()?;
            if self.queue.core.unfinished()? == 0 {
                return Ok(());
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => return Err(Error::Timeout),
                Some(d) => d - now,
                None => Duration::MAX,
            };
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }

    /// Items put but not yet marked done (by anyone).
    pub fn unfinished_tasks(&self) -> Result<usize> {
        self.queue.core.unfinished()
    }
}

impl<T: Serialize> JoinableQueue<T> {
    /// Puts an item and counts it as an unfinished task.
    pub fn put(&self, item: &T) -> Result<()> {
        self.queue.core.put(&encode(item)?, None, true)
    }

    /// Like [`put`](JoinableQueue::put), waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.queue
            .core
            .put(&encode(item)?, deadline_after(timeout), true)
    }

    /// Puts an item only if there is room now.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: &T) -> Result<()> {
        self.queue
            .core
            .put(&encode(item)?, Some(Instant::now()), true)
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    /// Everything else is a [`Queue`]'s (`get`, `get_tracked`, `qsize`, ...).
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> JoinableQueue<T> {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinableQueue").field(&self.queue).finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<JoinableQueue<T>, D::Error> {
        Queue::deserialize(deserializer).map(|queue| JoinableQueue { queue })
    }
}
