//! Running the benches: mp-bench's (all of them; the page needs them), then
//! the other crates' benches whose rows the page shows (mp-python's W9,
//! mp-redis's W8). Every `cargo bench` is told the same run
//! (`MP_BENCH_RUN`), so their stamps make one run; one of the other benches
//! that cannot run is skipped, and the page says why.

use std::path::Path;
use std::process::Command;

use crate::{Options, target_dir};

/// What it runs for mp-bench: every bench target (`--bench '*'`: no
/// library or binary test harness, which would choke on criterion's
/// options), with the `benches` feature they need (criterion and the Rust
/// peers).
pub(crate) const CARGO_BENCH: [&str; 7] = [
    "bench",
    "-p",
    "mp-bench",
    "--features",
    "benches",
    "--bench",
    "*",
];

/// [`CARGO_BENCH`] as a shell command line.
pub(crate) fn cargo_bench_line() -> String {
    let words = CARGO_BENCH.map(|w| if w == "*" { "'*'" } else { w });
    format!("cargo {}", words.join(" "))
}

/// Another crate's bench whose results are rows of the page.
#[derive(Debug)]
pub(crate) struct OtherBench {
    /// The rows it measures, as the page names them.
    pub(crate) rows: &'static str,
    pub(crate) package: &'static str,
    pub(crate) bench: &'static str,
    /// A program it cannot run without (found on PATH).
    pub(crate) needs: &'static str,
    /// The prefixes of the ids it writes.
    pub(crate) ids: &'static [&'static str],
}

impl OtherBench {
    /// `cargo bench -p <package> --bench <bench>`.
    pub(crate) fn command_line(&self) -> String {
        format!("cargo bench -p {} --bench {}", self.package, self.bench)
    }
}

/// The other benches, in the order they run.
pub(crate) const OTHER_BENCHES: [OtherBench; 2] = [
    OtherBench {
        rows: "W9",
        package: "mp-python",
        bench: "cpython_wire",
        needs: "python3",
        ids: &["python_wire/", "python_manager/"],
    },
    OtherBench {
        rows: "W8",
        package: "mp-redis",
        bench: "redis",
        needs: "redis-server",
        ids: &["w8/"],
    },
];

/// A bench of [`OTHER_BENCHES`] whose rows this run has not measured.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Skipped {
    pub(crate) rows: &'static str,
    pub(crate) command: String,
    pub(crate) why: String,
    ids: &'static [&'static str],
}

impl Skipped {
    pub(crate) fn new(bench: &OtherBench, why: impl Into<String>) -> Skipped {
        Skipped {
            rows: bench.rows,
            command: bench.command_line(),
            why: why.into(),
            ids: bench.ids,
        }
    }

    /// Whether the skipped bench measures `id`.
    pub(crate) fn covers(&self, id: &str) -> bool {
        self.ids.iter().any(|prefix| id.starts_with(prefix))
    }
}

/// Runs `cargo <args> [-- <bench args>]` as part of `run`.
fn cargo(o: &Options, run: &str, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // criterion finds its directory through `cargo metadata` (or a relative
    // `CARGO_TARGET_DIR`, from the bench's own directory): name it, so the
    // benches write where this reads.
    cmd.args(args)
        .env("CRITERION_HOME", target_dir(&o.root).join("criterion"))
        .env(RUN_VARIABLE, run)
        .current_dir(&o.root);
    if !o.bench_args.is_empty() {
        cmd.arg("--").args(&o.bench_args);
    }
    eprintln!("bench_report: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("it failed ({status})"))
}

/// The variable that names the run to the benches
/// (`mp_testkit::RUN_VARIABLE`; bench_report does not link mp-testkit).
const RUN_VARIABLE: &str = "MP_BENCH_RUN";

/// Runs mp-bench's benches; `Err` if they fail (the page needs them).
pub(crate) fn run_mp_bench(o: &Options, run: &str) -> Result<(), String> {
    cargo(o, run, &CARGO_BENCH).map_err(|e| format!("{}: {e}", cargo_bench_line()))
}

/// Runs the other benches (but those `o` skips); returns the ones that
/// did not run, and why.
pub(crate) fn run_others(o: &Options, run: &str) -> Vec<Skipped> {
    let mut skipped = Vec::new();
    for bench in &OTHER_BENCHES {
        let outcome = if o.skip_benches.iter().any(|p| p == bench.package) {
            Err(format!("`--skip-bench {}` was given", bench.package))
        } else if !on_path(bench.needs) {
            Err(format!("`{}` is not on PATH", bench.needs))
        } else {
            cargo(
                o,
                run,
                &["bench", "-p", bench.package, "--bench", bench.bench],
            )
        };
        if let Err(why) = outcome {
            eprintln!(
                "bench_report: {} rows skipped ({}): {why}",
                bench.rows,
                bench.command_line()
            );
            skipped.push(Skipped::new(bench, why));
        }
    }
    skipped
}

/// Whether `program` runs (`program --version`).
fn on_path(program: impl AsRef<Path>) -> bool {
    Command::new(program.as_ref())
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_bench_covers_its_ids_only() {
        let w8 = Skipped::new(&OTHER_BENCHES[1], "`redis-server` is not on PATH");
        assert_eq!(w8.command, "cargo bench -p mp-redis --bench redis");
        assert!(w8.covers("w8/map_chunksize_1/mp_redis"));
        assert!(!w8.covers("python_wire/roundtrip/python_client_to_mp_listener"));
        let w9 = Skipped::new(&OTHER_BENCHES[0], "x");
        assert!(w9.covers("python_manager/queue_put_get/python_client_to_mp_manager"));
    }

    #[test]
    fn a_missing_program_is_not_on_path() {
        assert!(!on_path("/nonexistent/redis-server"));
    }
}
