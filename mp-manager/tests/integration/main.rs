//! Integration tests of mp-manager: real server processes, real child
//! processes, real sockets. Every test arms a deadline.

mod bad_input;
mod children;
mod collections;
mod flood;
mod lifetime;
mod netns;
mod remote;
mod shutdown;
mod sync;
#[cfg(feature = "tls")]
mod tls;

use std::time::Duration;

/// The deadline of an ordinary test.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A generous bound for waits that should end quickly.
pub const PATIENCE: Duration = Duration::from_secs(20);
