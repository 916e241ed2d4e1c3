//! Tracked receives: `Delivery` (acknowledged when the work is done) and
//! `DeadLetter`.

use std::fmt;
use std::sync::{Arc, LazyLock};

use redis::Script;

use crate::error::Result;
use crate::link;
use crate::queue::{Core, GROUP};

/// Acknowledges a tracked entry; 1 if this call settled it.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  if ARGV[3] == '1' and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
    redis.call('DECR', KEYS[2])
  end
end
return n
"#,
    )
});

/// An item received with [`Queue::get_tracked`](crate::Queue::get_tracked): it derefs to the value.
///
/// Call [`done`](Delivery::done) once the work is finished. While the
/// delivery lives, a heartbeat keeps its claim alive; dropping it without
/// `done` abandons it, and it is delivered again after the visibility
/// timeout.
pub struct Delivery<T> {
    pub(crate) core: Arc<Core>,
    pub(crate) id: String,
    pub(crate) deliveries: u32,
    pub(crate) value: Option<T>,
    pub(crate) settled: bool,
}

impl<T> Delivery<T> {
    /// The stream entry id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times this item was delivered, this time included (more
    /// than 1: an earlier consumer died or abandoned it).
    pub fn deliveries(&self) -> u32 {
        self.deliveries
    }

    /// The value, keeping the delivery (to call `done` later).
    pub fn value(&self) -> &T {
        self.value.as_ref().expect("a delivery holds its value")
    }

    /// Acknowledges the item: it leaves the queue for good (on a
    /// [`JoinableQueue`](crate::JoinableQueue) this is also its `task_done`). `Ok(false)`: the
    /// item had already been settled by another consumer, which received
    /// it after this one's claim lapsed.
    pub fn done(mut self) -> Result<bool> {
        self.settled = true;
        self.core.claims().release(&self.id);
        let mut inv = ACK.prepare_invoke();
        inv.key(&self.core.keys.stream)
            .key(&self.core.keys.unfinished)
            .arg(GROUP)
            .arg(&self.id)
            .arg(if self.core.joinable { "1" } else { "0" });
        let n: i64 = self.core.links.with(|l| l.script(&inv))?;
        Ok(n == 1)
    }
}

impl<T> std::ops::Deref for Delivery<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value()
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        if !self.settled {
            self.core.claims().release(&self.id);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("deliveries", &self.deliveries)
            .field("value", &self.value)
            .finish()
    }
}

/// An item that went to the dead letters.
#[derive(Debug)]
pub struct DeadLetter<T> {
    /// Its entry id in the queue's stream.
    pub id: String,
    /// How many times it was delivered without being acknowledged.
    pub deliveries: u32,
    /// The item (or why it did not decode).
    pub value: Result<T>,
}
