//! The start methods (Python's `fork`, `spawn` and `forkserver`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a child process is created (Python's start methods).
///
/// | method | what happens | targets | cost |
/// |---|---|---|---|
/// | `Fork` | `fork()` of this process | also capturing closures | cheapest; unsafe with threads (warned) |
/// | `Spawn` | re-execute this binary | `fn` + serde args | an `exec` per child |
/// | `Forkserver` | a clean server process forks | `fn` + serde args | a fork of a small process |
///
/// The default is `Forkserver`, as in CPython 3.14: it is safe in programs
/// with threads (which every `cargo test` binary is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// Fork this process; the child shares its memory image at the time of
    /// the call.
    Fork,
    /// Re-execute this binary; the child starts fresh.
    Spawn,
    /// Ask the forkserver (started on first use) to fork a child.
    #[default]
    Forkserver,
}

impl StartMethod {
    /// All methods, in Python's order of `get_all_start_methods()` on Linux.
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Forkserver,
        StartMethod::Fork,
        StartMethod::Spawn,
    ];

    /// Python's name for the method (`"fork"`, `"spawn"`, `"forkserver"`).
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StartMethod {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<StartMethod, String> {
        StartMethod::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("cannot find context for {s:?}"))
    }
}
