//! The benchmark comparison runner: runs mp's criterion benches and the
//! CPython script for the same workloads back to back on this machine, and
//! writes `BENCHMARKS.md` and `mp-bench/benches/compare/plot.svg`.
//!
//! ```sh
//! cargo run --release -p mp-bench --bin bench_report [-- OPTIONS] [-- CARGO BENCH ARGS]
//! ```
//!
//! Options: `--no-bench` (reuse the last criterion results), `--no-python`
//! (leave the CPython column out), `--python-quick` (few CPython
//! repetitions), `--cpython-json FILE` (use a saved CPython run),
//! `--root DIR` (the workspace; default: where this was built from).
//! Anything after a second `--` goes to `cargo bench` (e.g. a filter).
//! `PYTHON` names the interpreter (default `python3`); criterion's output is
//! read from `$CARGO_TARGET_DIR/criterion` (default `target/criterion`).

mod markdown;
mod measurements;
mod rows;
mod runs;
mod svg;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

const COMMAND: &str = "cargo run --release -p mp-bench --bin bench_report";

/// What it runs for the criterion side: every bench target of mp-bench
/// (`--bench '*'`: no library or binary test harness, which would choke on
/// criterion's options), with the `benches` feature they need (criterion
/// and the Rust peers).
const CARGO_BENCH: [&str; 7] = [
    "bench",
    "-p",
    "mp-bench",
    "--features",
    "benches",
    "--bench",
    "*",
];

/// [`CARGO_BENCH`] as a shell command line.
fn cargo_bench_line() -> String {
    let words = CARGO_BENCH.map(|w| if w == "*" { "'*'" } else { w });
    format!("cargo {}", words.join(" "))
}

/// The CPython script and the plot, from the workspace root.
const SCRIPT: &str = "mp-bench/benches/compare/workloads.py";
/// What workloads.py runs for CPython's memory rows.
const MEMORY_SCRIPT: &str = "mp-bench/benches/compare/memory.py";
const PLOT: &str = "mp-bench/benches/compare/plot.svg";

struct Options {
    root: PathBuf,
    bench: bool,
    python: bool,
    python_quick: bool,
    cpython_json: Option<PathBuf>,
    bench_args: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        root: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf(),
        bench: true,
        python: true,
        python_quick: false,
        cpython_json: None,
        bench_args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--no-bench" => o.bench = false,
            "--no-python" => o.python = false,
            "--python-quick" => o.python_quick = true,
            "--cpython-json" => {
                o.cpython_json = Some(args.next().ok_or("--cpython-json needs a file")?.into())
            }
            "--root" => o.root = args.next().ok_or("--root needs a directory")?.into(),
            "--" => o.bench_args.extend(args.by_ref()),
            "-h" | "--help" => {
                let doc = include_str!("main.rs")
                    .lines()
                    .map_while(|l| l.strip_prefix("//!"))
                    .map(|l| l.strip_prefix(' ').unwrap_or(l));
                for line in doc {
                    println!("{line}");
                }
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    Ok(o)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"))
}

fn run_cargo_bench(o: &Options) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // criterion finds its directory through `cargo metadata` (or a relative
    // `CARGO_TARGET_DIR`, from the bench's own directory): name it, so the
    // benches write where this reads.
    cmd.args(CARGO_BENCH)
        .env("CRITERION_HOME", target_dir(&o.root).join("criterion"))
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
        .ok_or_else(|| format!("cargo bench failed: {status}"))
}

/// Runs the CPython script; `Err` says why the CPython column is skipped.
fn run_python(o: &Options, out: &Path) -> Result<measurements::CPython, String> {
    if let Some(saved) = &o.cpython_json {
        return measurements::read_cpython(saved);
    }
    if !o.python {
        return Err("--no-python was given".into());
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).arg("--version").output() {
        Ok(v) if v.status.success() => {}
        _ => {
            return Err(format!(
                "`{python}` was not found, so CPython was not measured"
            ));
        }
    }
    let script = o.root.join(SCRIPT);
    std::fs::create_dir_all(out.parent().unwrap()).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&python);
    cmd.arg(&script).arg("--out").arg(out).current_dir(&o.root);
    if o.python_quick {
        cmd.arg("--quick");
    }
    eprintln!("bench_report: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !status.success() {
        return Err(format!("the CPython script failed ({status})"));
    }
    measurements::read_cpython(out)
}

/// `YYYY-MM-DD` (UTC).
fn today() -> String {
    utc(SystemTime::now())[..10].to_string()
}

/// `YYYY-MM-DD HH:MM` (UTC) without a date crate (Howard Hinnant's
/// civil_from_days).
fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let minute = secs % 86_400 / 60;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", minute / 60, minute % 60)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cpus} CPUs, Linux {kernel}, {rustc}")
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench_report: {e}");
            return ExitCode::from(2);
        }
    };
    if o.bench
        && let Err(e) = run_cargo_bench(&o)
    {
        eprintln!("bench_report: {e}");
        return ExitCode::FAILURE;
    }
    let target = target_dir(&o.root);
    let cpython_out = target.join("mp-compare/cpython.json");
    let (cpython, skipped) = match run_python(&o, &cpython_out) {
        Ok(c) => (Some(c), None),
        Err(why) => {
            eprintln!("bench_report: the CPython column is skipped: {why}");
            (None, Some(why))
        }
    };
    let criterion_dir = target.join("criterion");
    let run = runs::one_run(
        measurements::read_criterion(&criterion_dir),
        &runs::read_windows(&criterion_dir),
    );
    if !run.left_out.is_empty() {
        eprintln!(
            "bench_report: {} results of other runs left out (the page shows one run)",
            run.left_out.len()
        );
    }
    let crit = run.results;
    if crit.is_empty() {
        eprintln!(
            "bench_report: no criterion results under {} (run without --no-bench)",
            target.join("criterion").display()
        );
        return ExitCode::FAILURE;
    }
    let ctx = markdown::Context {
        date: today(),
        machine: machine(),
        command: COMMAND,
        cpython_skipped: skipped,
        run: run.span,
        left_out: run.left_out,
    };
    let md = markdown::render(&ctx, &crit, cpython.as_ref());
    let subtitle = format!(
        "{}, {}; {}",
        ctx.date,
        ctx.machine,
        cpython
            .as_ref()
            .map_or("no CPython run", |c| c.python.as_str())
    );
    let plot = svg::render(&crit, cpython.as_ref(), &subtitle);
    let md_path = o.root.join("BENCHMARKS.md");
    let svg_path = o.root.join(PLOT);
    for (path, text) in [(&md_path, &md), (&svg_path, &plot)] {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("bench_report: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("wrote {} and {}", md_path.display(), svg_path.display());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_a_date() {
        let d = super::today();
        assert_eq!(d.len(), 10, "{d}");
        assert!(d.starts_with("20"), "{d}");
        assert_eq!(&d[4..5], "-");
    }

    #[test]
    fn utc_reads_a_known_moment() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(super::utc(t), "2024-02-29 12:34");
    }
}
