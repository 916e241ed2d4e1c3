//! Which run each result comes from, so that a page is built from one run.
//!
//! Every bench binary stamps its start and end as two files,
//! `mp-runs/<run>/<bench>-<pid>.started` and `.finished`, where a run is one
//! `cargo bench` invocation (mp-bench/benches/report_files). A result belongs
//! to the run whose binary was running when its file was written (file
//! times against file times: the same clock). The page keeps the newest
//! result's run and leaves every other result out, so a filtered `cargo
//! bench` never sets fresh mp numbers beside stale floors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use crate::measurements::{Entry, RUNS, Results, written};

/// One bench binary's time in a run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Window {
    run: String,
    started: SystemTime,
    /// `None`: the binary did not finish (killed, or it panicked).
    finished: Option<SystemTime>,
}

/// The stamps under criterion's directory `dir`, by start time.
pub(crate) fn read_windows(dir: &Path) -> Vec<Window> {
    let mut windows = Vec::new();
    let Ok(runs) = fs::read_dir(dir.join(RUNS)) else {
        return windows;
    };
    for run in runs.flatten() {
        let Some(id) = run.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(stamps) = fs::read_dir(run.path()) else {
            continue;
        };
        for stamp in stamps.flatten() {
            let path = stamp.path();
            if path.extension().is_some_and(|e| e == "started")
                && let Some(started) = written(&path)
            {
                windows.push(Window {
                    run: id.clone(),
                    started,
                    finished: written(&path.with_extension("finished")),
                });
            }
        }
    }
    windows.sort_by_key(|w| w.started);
    windows
}

/// The run that was running at `t`: the latest-started window that
/// encloses it. A window without an end ends where the next one starts.
fn run_at(windows: &[Window], t: SystemTime) -> Option<&str> {
    windows
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            let end = w
                .finished
                .or_else(|| windows.get(i + 1).map(|next| next.started));
            w.started <= t && end.is_none_or(|end| t <= end)
        })
        .map(|(_, w)| w.run.as_str())
        .next_back()
}

/// The span of the run a page shows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Span {
    pub(crate) started: SystemTime,
    /// `None` when one of its binaries did not finish.
    pub(crate) finished: Option<SystemTime>,
}

/// The results of one run.
#[derive(Debug)]
pub(crate) struct OneRun {
    pub(crate) results: Results,
    /// The run's span; `None` when the kept results carry no stamps (from
    /// benches that did not stamp their runs): then they may mix runs.
    pub(crate) span: Option<Span>,
    /// The ids of results left out: measured in another run.
    pub(crate) left_out: Vec<String>,
}

/// The results of the newest result's run, out of everything `found`.
pub(crate) fn one_run(found: BTreeMap<String, Entry>, windows: &[Window]) -> OneRun {
    let run_of = |e: &Entry| e.written.and_then(|t| run_at(windows, t));
    let newest = found
        .values()
        .filter(|e| e.written.is_some())
        .max_by_key(|e| e.written);
    let kept = newest.and_then(run_of).map(str::to_owned);
    let mut results = Results::default();
    let mut left_out = Vec::new();
    for (id, entry) in found {
        if run_of(&entry) == kept.as_deref() {
            results.0.insert(id, entry.measurement);
        } else {
            left_out.push(id);
        }
    }
    let span = kept.map(|run| {
        let mine: Vec<&Window> = windows.iter().filter(|w| w.run == run).collect();
        Span {
            started: mine
                .iter()
                .map(|w| w.started)
                .min()
                .expect("a kept run has a window"),
            finished: mine
                .iter()
                .map(|w| w.finished)
                .collect::<Option<Vec<_>>>()
                .and_then(|ends| ends.into_iter().max()),
        }
    });
    OneRun {
        results,
        span,
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::measurements::{Criterion, Measurement};

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn window(run: &str, started: u64, finished: Option<u64>) -> Window {
        Window {
            run: run.into(),
            started: at(started),
            finished: finished.map(at),
        }
    }

    fn entry(written: Option<u64>) -> Entry {
        Entry {
            measurement: Measurement::Time(Criterion {
                median_ns: 1.0,
                bytes: None,
                elements: None,
            }),
            written: written.map(at),
        }
    }

    fn found(entries: &[(&str, Option<u64>)]) -> BTreeMap<String, Entry> {
        entries
            .iter()
            .map(|(id, t)| (id.to_string(), entry(*t)))
            .collect()
    }

    #[test]
    fn the_newest_results_run_is_kept_and_the_rest_left_out() {
        // Run a: two binaries; run b (a filtered cargo bench) re-measured mp only.
        let windows = [
            window("a", 10, Some(20)),
            window("a", 21, Some(30)),
            window("b", 100, Some(110)),
        ];
        let run = one_run(
            found(&[
                ("pipe/roundtrip/u64", Some(105)),
                ("pipe/roundtrip/raw_socketpair_8B", Some(15)),
                ("queue/throughput/mp_queue/u64", Some(25)),
                ("before/stamps", Some(5)),
            ]),
            &windows,
        );
        assert_eq!(
            run.results.0.keys().collect::<Vec<_>>(),
            ["pipe/roundtrip/u64"]
        );
        assert_eq!(
            run.left_out,
            [
                "before/stamps",
                "pipe/roundtrip/raw_socketpair_8B",
                "queue/throughput/mp_queue/u64"
            ]
        );
        assert_eq!(
            run.span,
            Some(Span {
                started: at(100),
                finished: Some(at(110))
            })
        );

        // Without run b, all of run a is kept, and its span covers both binaries.
        let run = one_run(
            found(&[("x", Some(15)), ("y", Some(25)), ("z", Some(5))]),
            &windows[..2],
        );
        assert_eq!(run.results.0.keys().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(run.left_out, ["z"]);
        assert_eq!(run.span.unwrap().started, at(10));
    }

    #[test]
    fn an_unfinished_binary_ends_where_the_next_starts() {
        let windows = [window("a", 10, None), window("b", 50, None)];
        assert_eq!(run_at(&windows, at(40)), Some("a"));
        assert_eq!(run_at(&windows, at(60)), Some("b"));
        assert_eq!(run_at(&windows, at(5)), None);
        let run = one_run(found(&[("x", Some(60))]), &windows);
        assert_eq!(run.span.unwrap().finished, None);
    }

    #[test]
    fn results_without_stamps_are_kept_together_and_said_to_be() {
        let run = one_run(found(&[("x", Some(1)), ("y", Some(2)), ("z", None)]), &[]);
        assert_eq!(run.results.0.len(), 3);
        assert!(run.left_out.is_empty());
        assert_eq!(run.span, None);
    }

    #[test]
    fn stamps_are_read_from_their_files() {
        let root = std::env::temp_dir().join(format!("bench_report_runs_{}", std::process::id()));
        let run = root.join(RUNS).join("42-7");
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join("pipe-1.started"), "").unwrap();
        fs::write(run.join("pipe-1.finished"), "").unwrap();
        fs::write(run.join("queue-2.started"), "").unwrap();
        let windows = read_windows(&root);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(windows.len(), 2, "{windows:?}");
        assert!(windows.iter().all(|w| w.run == "42-7"));
        assert_eq!(windows.iter().filter(|w| w.finished.is_some()).count(), 1);
    }
}
