//! Integration tests of mp-manager: real server processes, real child
//! processes, real sockets. Every test arms a deadline.

mod addresses;
mod bad_input;
mod children;
mod collections;
mod flood;
mod impostor;
mod initializer;
mod iterators;
mod lifetime;
mod local_pipe;
mod logging;
mod netns;
mod queue_shutdown;
mod remote;
mod shared_memory_manager;
mod shutdown;
mod sync;
#[cfg(feature = "tls")]
mod tls;

use std::time::Duration;

use mp_manager::Manager;

/// The deadline of an ordinary test.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A generous bound for waits that should end quickly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until at least `n` operations wait on `manager`'s server (a
/// blocked `get`, `acquire`, `wait`...), so what the test does next
/// happens while they wait.
pub fn until_waiting(manager: &Manager, n: u64) {
    assert!(
        mp_testkit::eventually(PATIENCE, || manager.debug_info().unwrap().waiting >= n),
        "fewer than {n} operations ever waited on the server"
    );
}
