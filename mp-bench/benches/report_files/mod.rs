//! What the benches write beside criterion's results for bench_report: the
//! stamps that say which run each result belongs to, and side files
//! (measurements criterion does not take: a floor timed between a bench's
//! own samples, hand-off counts, memory).
//!
//! A run is one `cargo bench` invocation. Every bench binary writes
//! `mp-runs/<run>/<bench>-<pid>.started` before its first measurement and
//! `.finished` after its last; bench_report files each result under the
//! run whose stamps enclose the time it was written, and builds its table
//! from one run only.

use std::path::{Path, PathBuf};

/// Where criterion writes its results, found as criterion finds it:
/// `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the
/// workspace's `target/criterion` (this crate sits one level below the
/// workspace root; criterion asks `cargo metadata`, which says the same
/// unless a config file moves the target directory).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| workspace.join("target"), |p| workspace.join(p))
        .join("criterion")
}

/// Writes `contents` to `path` under criterion's directory (creating the
/// folders on the way).
pub(crate) fn write(path: impl AsRef<Path>, contents: &str) {
    let path = criterion_dir().join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The run this binary belongs to: the `cargo bench` that started it (its
/// parent), named by its pid and start time, so every bench binary of one
/// invocation shares it and no later invocation has it.
fn run_id() -> String {
    let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    // Field 22 of /proc/<pid>/stat, the start time in clock ticks since
    // boot: the 20th after the parenthesised command name.
    let started = std::fs::read_to_string(format!("/proc/{parent}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, after_name) = stat.rsplit_once(')')?;
            after_name.split_whitespace().nth(19).map(str::to_owned)
        })
        .unwrap_or_default();
    format!("{parent}-{started}")
}

/// A bench binary's `main`: runs `benches` (its criterion groups) and
/// criterion's closing summary between the two stamps of this run.
pub(crate) fn main(benches: fn()) {
    let stamp = format!(
        "mp-runs/{}/{}-{}",
        run_id(),
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    );
    write(format!("{stamp}.started"), "");
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    write(format!("{stamp}.finished"), "");
}
