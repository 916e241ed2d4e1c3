//! mp-queue across real processes, one area per module, each test with a
//! deadline.

mod basics;
mod crashes;
mod many;
mod processes;
mod turns;

use std::time::Duration;

pub const SECS: Duration = Duration::from_secs(1);
/// The timeout of every wait that should end long before it.
pub const T: Duration = Duration::from_secs(20);
