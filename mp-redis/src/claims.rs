//! The heartbeat: a thread that keeps a consumer's claims on the entries it
//! is working on alive, so a long task is not reclaimed as a dead one's.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::link::{Backoff, Link};
use crate::stream::Consumer;

struct Held {
    ids: HashSet<String>,
    stopped: bool,
}

struct Shared {
    held: Mutex<Held>,
    changed: Condvar,
}

/// Entries held by one consumer; renewed every `interval` while held.
/// Dropping it stops the heartbeat (the entries then become reclaimable
/// once idle for the visibility timeout).
pub(crate) struct Claims {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("held", &self.shared.held.lock().ids.len())
            .finish()
    }
}

impl Claims {
    /// Starts the heartbeat thread of `consumer`, on its own connection.
    pub(crate) fn start(mut link: Link, consumer: Consumer, interval: Duration) -> Claims {
        let shared = Arc::new(Shared {
            held: Mutex::new(Held {
                ids: HashSet::new(),
                stopped: false,
            }),
            changed: Condvar::new(),
        });
        let beat = shared.clone();
        std::thread::Builder::new()
            .name("mp-redis heartbeat".into())
            .spawn(move || {
                let mut backoff = Backoff::new();
                let mut pause = interval;
                loop {
                    let ids: Vec<String> = {
                        let mut held = beat.held.lock();
                        if !held.stopped {
                            beat.changed.wait_for(&mut held, pause);
                        }
                        if held.stopped {
                            return;
                        }
                        held.ids.iter().cloned().collect()
                    };
                    match consumer.renew(&mut link, &ids) {
                        Ok(_) => {
                            backoff.reset();
                            pause = interval;
                        }
                        Err(_) => pause = backoff.next_pause().min(interval),
                    }
                }
            })
            .expect("cannot start the heartbeat thread");
        Claims { shared }
    }

    pub(crate) fn hold(&self, id: &str) {
        self.shared.held.lock().ids.insert(id.to_owned());
    }

    pub(crate) fn release(&self, id: &str) {
        self.shared.held.lock().ids.remove(id);
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        self.shared.held.lock().stopped = true;
        self.shared.changed.notify_all();
    }
}
