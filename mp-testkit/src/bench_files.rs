//! What the workspace's benches write beside criterion's results for
//! mp-bench's `bench_report`: the stamps that say which run each result
//! belongs to, and side files (measurements criterion does not take: a
//! floor timed between a bench's own samples, hand-off counts, memory, a
//! bench's own summary such as mp-redis's W8 table).
//!
//! A run is one `bench_report` invocation (it names its run in
//! `MP_BENCH_RUN` for every `cargo bench` it starts), or else one `cargo
//! bench` invocation. Every bench binary writes
//! `mp-runs/<run>/<bench>-<pid>.started` before its first measurement and
//! `.finished` after its last; bench_report files each result under the run
//! whose stamps enclose the time it was written, and builds its page from
//! one run only.

use std::path::{Path, PathBuf};

/// The variable that names the run (set by `bench_report`).
pub const RUN_VARIABLE: &str = "MP_BENCH_RUN";

/// Where one bench binary writes for bench_report, and the run it is part
/// of.
#[derive(Clone, Debug)]
pub struct BenchFiles {
    dir: PathBuf,
    run: String,
}

impl BenchFiles {
    /// Criterion's directory, found as criterion finds it:
    /// `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the
    /// workspace's `target/criterion` (every crate sits one level below the
    /// workspace root, and `cargo bench` names the bench's crate in
    /// `$CARGO_MANIFEST_DIR`; criterion asks `cargo metadata`, which says the same
    /// unless a config file moves the target directory). The run is
    /// `$MP_BENCH_RUN`, else the `cargo bench` that started this binary
    /// (its parent, by pid and start time: every bench binary of one
    /// invocation shares it and no later invocation has it).
    pub fn from_env() -> BenchFiles {
        let dir = match std::env::var_os("CRITERION_HOME") {
            Some(home) => home.into(),
            None => {
                // The bench's own package, as `cargo bench` sets it for the
                // run; this crate's at build time only as the fallback: an
                // artifact built from another checkout sharing the target
                // directory (cargo reuses it: its hashes ignore where the
                // workspace lies) keeps that checkout's path.
                let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
                    .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
                let workspace = manifest.parent().unwrap_or(Path::new("."));
                std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .map_or_else(|| workspace.join("target"), |p| workspace.join(p))
                    .join("criterion")
            }
        };
        let run = std::env::var(RUN_VARIABLE)
            .ok()
            .filter(|r| !r.is_empty() && !r.contains('/'))
            .unwrap_or_else(parent_run);
        BenchFiles { dir, run }
    }

    /// Files under `dir`, stamped as part of `run`.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("bench_files_doc_{}", std::process::id()));
    /// let files = mp_testkit::BenchFiles::at(&dir, "run-1");
    /// files.stamped("demo", || files.write("demo/summary.json", "{}"));
    /// assert!(dir.join("demo/summary.json").exists());
    /// assert!(dir.join(format!("mp-runs/run-1/demo-{}.finished", std::process::id())).exists());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn at(dir: impl Into<PathBuf>, run: &str) -> BenchFiles {
        BenchFiles {
            dir: dir.into(),
            run: run.to_owned(),
        }
    }

    /// Criterion's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `contents` to `path` under criterion's directory (creating
    /// the folders on the way); panics if it cannot (a bench without its
    /// results is a failed bench).
    pub fn write(&self, path: impl AsRef<Path>, contents: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Runs `measure` (all of bench binary `bench`'s measurements) between
    /// the two stamps of this run.
    pub fn stamped<R>(&self, bench: &str, measure: impl FnOnce() -> R) -> R {
        let stamp = format!("mp-runs/{}/{bench}-{}", self.run, std::process::id());
        self.write(format!("{stamp}.started"), "");
        let result = measure();
        self.write(format!("{stamp}.finished"), "");
        result
    }
}

/// The run of the `cargo bench` that started this process: its pid and
/// start time.
fn parent_run() -> String {
    let parent = std::os::unix::process::parent_id();
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
