//! The benchmark comparison runner: runs mp's criterion benches and the
//! CPython script for the same workloads back to back on this machine, and
//! writes `BENCHMARKS.md` and `mp-bench/benches/compare/plot.svg`.
//!
//! ```sh
//! cargo run --release -p mp-bench --bin bench_report [-- OPTIONS] [-- CARGO BENCH ARGS]
//! ```
//!
//! It runs mp-bench's benches, then mp-python's `cpython_wire` (W9) and
//! mp-redis's `redis` (W8, with Celery beside it), all as one run (they
//! share `MP_BENCH_RUN`), then `workloads.py` and `numpy_fill.py` for the
//! CPython column.
//!
//! Options: `--no-bench` (reuse the last criterion results: the page shows
//! the newest run among them), `--skip-bench PACKAGE` (leave mp-python's or
//! mp-redis's bench out; its rows say so), `--no-python` (leave the CPython
//! scripts out), `--python-quick` (few CPython repetitions),
//! `--cpython-json FILE` (use a saved workloads.py run), `--root DIR` (the
//! workspace; default: where this was built from). Anything after a second
//! `--` goes to every `cargo bench` (e.g. `--measurement-time 2`).
//! `PYTHON` names the interpreter (default `python3`); criterion's output is
//! read from `$CARGO_TARGET_DIR/criterion` (default `target/criterion`).

mod bench_runs;
mod markdown;
mod measurements;
mod rows;
mod rows_redis_python_leases;
mod runs;
mod svg;
mod values;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

const COMMAND: &str = "cargo run --release -p mp-bench --bin bench_report";

/// The CPython scripts and the plot, from the workspace root.
const SCRIPT: &str = "mp-bench/benches/compare/workloads.py";
/// numpy's side of the lease row.
const NUMPY_SCRIPT: &str = "mp-bench/benches/compare/numpy_fill.py";
/// What workloads.py runs for CPython's memory rows.
const MEMORY_SCRIPT: &str = "mp-bench/benches/compare/memory.py";
const PLOT: &str = "mp-bench/benches/compare/plot.svg";

struct Options {
    root: PathBuf,
    bench: bool,
    python: bool,
    python_quick: bool,
    cpython_json: Option<PathBuf>,
    /// Packages whose bench (of bench_runs::OTHER_BENCHES) is left out.
    skip_benches: Vec<String>,
    bench_args: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        // `cargo run` names this crate at run time; the path built in is
        // the fallback (an artifact of another checkout that shares the
        // target directory keeps that checkout's).
        root: std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        bench: true,
        python: true,
        python_quick: false,
        cpython_json: None,
        skip_benches: Vec::new(),
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
            "--skip-bench" => {
                let package = args.next().ok_or("--skip-bench needs a package")?;
                if !bench_runs::OTHER_BENCHES
                    .iter()
                    .any(|b| b.package == package)
                {
                    return Err(format!(
                        "--skip-bench: {package:?} has no bench on the page"
                    ));
                }
                o.skip_benches.push(package);
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

/// The Python interpreter to run the scripts with; `Err` says why they
/// are not run.
fn python_interpreter(o: &Options) -> Result<String, String> {
    if !o.python {
        return Err("--no-python was given".into());
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).arg("--version").output() {
        Ok(v) if v.status.success() => Ok(python),
        _ => Err(format!(
            "`{python}` was not found, so CPython was not measured"
        )),
    }
}

/// Runs `python <script> --out <out> [--quick]` from the workspace.
fn run_script(o: &Options, python: &str, script: &str, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out.parent().unwrap()).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(python);
    cmd.arg(o.root.join(script))
        .arg("--out")
        .arg(out)
        .current_dir(&o.root);
    if o.python_quick {
        cmd.arg("--quick");
    }
    eprintln!("bench_report: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{script} failed ({status})"))
}

/// Runs the CPython script; `Err` says why the CPython column is skipped.
fn run_python(o: &Options, out: &Path) -> Result<measurements::CPython, String> {
    if let Some(saved) = &o.cpython_json {
        return measurements::read_cpython(saved);
    }
    let python = python_interpreter(o)?;
    run_script(o, &python, SCRIPT, out)?;
    measurements::read_cpython(out)
}

/// Runs numpy_fill.py and adds numpy's numbers to `cpython`; `Err` says
/// why the lease row's CPython cell is empty.
fn add_numpy(o: &Options, cpython: &mut measurements::CPython, out: &Path) -> Result<(), String> {
    if o.cpython_json.is_some() {
        return Err(format!("{NUMPY_SCRIPT} is not run with --cpython-json"));
    }
    let python = python_interpreter(o)?;
    run_script(o, &python, NUMPY_SCRIPT, out)?;
    let numpy = measurements::read_numpy(out)?;
    cpython.results.extend(numpy);
    Ok(())
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
    // One run for every bench: this invocation, named once.
    let run_id = format!(
        "report-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let mut skipped_benches = Vec::new();
    if o.bench {
        if let Err(e) = bench_runs::run_mp_bench(&o, &run_id) {
            eprintln!("bench_report: {e}");
            return ExitCode::FAILURE;
        }
        skipped_benches = bench_runs::run_others(&o, &run_id);
    }
    let target = target_dir(&o.root);
    let cpython_out = target.join("mp-compare/cpython.json");
    let mut notes = Vec::new();
    let (cpython, skipped) = match run_python(&o, &cpython_out) {
        Ok(mut c) => {
            let numpy_out = target.join("mp-compare/numpy_fill.json");
            if let Err(why) = add_numpy(&o, &mut c, &numpy_out) {
                eprintln!("bench_report: numpy is left out: {why}");
                notes.push(format!(
                    "The lease row's CPython (numpy) cell is empty: {why}"
                ));
            }
            (Some(c), None)
        }
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
        skipped_benches,
        notes,
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
