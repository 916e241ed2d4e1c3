//! Settings shared by queues, pools and workers: where Redis is, how
//! patient to be, and the rules of redelivery.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::link::{Link, Timeouts};

/// How long an entry received in tracked form may go without a sign of
/// life from its consumer before another consumer gets it.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times an entry is delivered without being acknowledged before
/// it goes to the dead letters (a pool task: fails with `WorkerLost`).
pub const DEFAULT_MAX_DELIVERIES: u32 = 3;

/// Settings shared by queues and pools: where Redis is and how patient to
/// be (they travel with a queue handle or a local worker to a child).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) visibility: Duration,
    pub(crate) max_deliveries: u32,
    pub(crate) timeouts: Timeouts,
    /// A PEM root certificate to trust for `rediss://` instead of the
    /// system's.
    pub(crate) tls_root: Option<Vec<u8>>,
}

impl Settings {
    pub(crate) fn new(url: &str, name: &str) -> Settings {
        Settings {
            url: url.to_owned(),
            name: name.to_owned(),
            visibility: DEFAULT_VISIBILITY_TIMEOUT,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            timeouts: Timeouts::default(),
            tls_root: None,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::InvalidSetting("the name is empty".into()));
        }
        if self.visibility < Duration::from_millis(10) {
            return Err(Error::InvalidSetting(
                "the visibility timeout is under 10 ms".into(),
            ));
        }
        if self.max_deliveries == 0 {
            return Err(Error::InvalidSetting("max_deliveries is 0".into()));
        }
        Ok(())
    }

    /// Checks the settings and makes a (not yet connected) link.
    pub(crate) fn link(&self) -> Result<Link> {
        self.check()?;
        Link::new(&self.url, self.timeouts, self.tls_root.as_deref())
    }

    /// How long one blocking read waits in Redis before looking again at
    /// reclaimable entries, timeouts and `close`.
    pub(crate) fn slice(&self) -> Duration {
        (self.visibility / 4).clamp(Duration::from_millis(10), Duration::from_millis(500))
    }

    /// How often a consumer renews its claims.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.visibility / 3
    }
}

/// A consumer name unique across hosts: host, pid and 64 random bits.
pub(crate) fn consumer_name(tag: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!(
        "{}:{}:{tag}:{:016x}",
        host.trim(),
        std::process::id(),
        crate::random_u64()
    )
}
