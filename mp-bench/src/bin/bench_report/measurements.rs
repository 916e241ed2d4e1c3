//! The numbers: criterion's `estimates.json` files, and the CPython
//! script's JSON.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;

/// One criterion benchmark: the median time of one iteration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Criterion {
    pub(crate) median_ns: f64,
    /// Bytes per iteration, when the group declared `Throughput::Bytes`.
    pub(crate) bytes: Option<u64>,
    /// Items per iteration, when the group declared `Throughput::Elements`
    /// (e.g. one iteration is a whole `map` over 100k items).
    pub(crate) elements: Option<u64>,
}

impl Criterion {
    /// The time of one item: the iteration's time over its elements.
    pub(crate) fn ns_per_item(&self) -> f64 {
        self.median_ns / self.elements.unwrap_or(1).max(1) as f64
    }
}

#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
    throughput: Option<ThroughputJson>,
}

#[derive(Deserialize)]
enum ThroughputJson {
    Bytes(u64),
    BytesDecimal(u64),
    Elements(u64),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// A count a bench takes beside its times: how often a lock changed hands
/// between two processes over so many increments.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Handoffs {
    pub(crate) handoffs: u64,
    pub(crate) increments: u64,
}

/// The memory of idle processes: their mean proportional set size.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pss {
    pub(crate) bytes: f64,
    pub(crate) processes: u64,
}

/// One result under criterion's directory.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Measurement {
    Time(Criterion),
    Handoffs(Handoffs),
    Pss(Pss),
    /// What a bench says about its numbers (e.g. which Celery it measured,
    /// or why it left Celery out).
    Note(String),
}

/// A result and when its file was written (which run it belongs to).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) measurement: Measurement,
    pub(crate) written: Option<SystemTime>,
}

/// The results a page is built from, by full id.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Results(pub(crate) BTreeMap<String, Measurement>);

#[cfg(test)]
impl Results {
    /// Criterion times only.
    pub(crate) fn of_times(times: impl IntoIterator<Item = (String, Criterion)>) -> Results {
        Results(
            times
                .into_iter()
                .map(|(id, c)| (id, Measurement::Time(c)))
                .collect(),
        )
    }
}

impl Results {
    pub(crate) fn time(&self, id: &str) -> Option<&Criterion> {
        match self.0.get(id)? {
            Measurement::Time(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn handoffs(&self, id: &str) -> Option<&Handoffs> {
        match self.0.get(id)? {
            Measurement::Handoffs(h) => Some(h),
            _ => None,
        }
    }

    pub(crate) fn pss(&self, id: &str) -> Option<&Pss> {
        match self.0.get(id)? {
            Measurement::Pss(p) => Some(p),
            _ => None,
        }
    }

    /// The benches' notes, by id.
    pub(crate) fn notes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|(id, m)| match m {
            Measurement::Note(text) => Some((id.as_str(), text.as_str())),
            _ => None,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Every result under `dir` (criterion's output directory), by full id
/// (`group/function[/value]`). A missing directory is an empty map.
///
/// Besides criterion's own results (`new/estimates.json`), the benches
/// leave side files: `paired.json` (`{"full_id", "median_ns"}`, a floor
/// measured between a bench's own samples, at the same moments:
/// mp-bench/benches/manager.rs), `handoffs.json` (`{"full_id", "handoffs",
/// "increments"}`: shm.rs) and `pss.json` (`{"full_id", "pss_bytes",
/// "processes"}`: memory.rs) and `summary.json` (`{"results": [...]}`,
/// many results of either form, or `{"full_id", "note"}`: a bench's own
/// summary, e.g. mp-redis's W8 table).
pub(crate) fn read_criterion(dir: &Path) -> BTreeMap<String, Entry> {
    let mut found = BTreeMap::new();
    walk(dir, &mut found);
    found
}

fn walk(dir: &Path, found: &mut BTreeMap<String, Entry>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if SIDE_FILES.iter().any(|side| name == *side) {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let written = written(&path);
            for (id, measurement) in read_side(&text) {
                found.insert(
                    id,
                    Entry {
                        measurement,
                        written,
                    },
                );
            }
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        if name == "new" {
            if let Some((id, c)) = read_one(&path) {
                let written = written(&path.join("estimates.json"));
                let measurement = Measurement::Time(c);
                found.insert(
                    id,
                    Entry {
                        measurement,
                        written,
                    },
                );
            }
        } else if name != "report" && name != RUNS {
            walk(&path, found);
        }
    }
}

/// When the file at `path` was last written.
pub(crate) fn written(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The side files' names.
const SIDE_FILES: [&str; 4] = ["paired.json", "handoffs.json", "pss.json", "summary.json"];

/// The folder of the benches' run stamps (mp-bench/benches/report_files).
pub(crate) const RUNS: &str = "mp-runs";

/// A side file: an id and the fields of one kind of measurement.
#[derive(Deserialize)]
struct SideJson {
    full_id: String,
    median_ns: Option<f64>,
    handoffs: Option<u64>,
    increments: Option<u64>,
    pss_bytes: Option<f64>,
    processes: Option<u64>,
    note: Option<String>,
}

/// A summary: many side results in one file.
#[derive(Deserialize)]
struct SummaryJson {
    results: Vec<SideJson>,
}

/// The results of a side file (none if it does not parse).
fn read_side(text: &str) -> Vec<(String, Measurement)> {
    if let Ok(summary) = serde_json::from_str::<SummaryJson>(text) {
        return summary.results.into_iter().filter_map(one_side).collect();
    }
    serde_json::from_str(text)
        .ok()
        .and_then(one_side)
        .into_iter()
        .collect()
}

fn one_side(side: SideJson) -> Option<(String, Measurement)> {
    let measurement = match side {
        SideJson {
            median_ns: Some(median_ns),
            ..
        } => Measurement::Time(Criterion {
            median_ns,
            bytes: None,
            elements: None,
        }),
        SideJson {
            handoffs: Some(handoffs),
            increments: Some(increments),
            ..
        } => Measurement::Handoffs(Handoffs {
            handoffs,
            increments,
        }),
        SideJson {
            pss_bytes: Some(bytes),
            processes: Some(processes),
            ..
        } => Measurement::Pss(Pss { bytes, processes }),
        SideJson {
            note: Some(ref text),
            ..
        } => Measurement::Note(text.clone()),
        _ => return None,
    };
    Some((side.full_id, measurement))
}

fn read_one(dir: &Path) -> Option<(String, Criterion)> {
    let bench: BenchmarkJson =
        serde_json::from_str(&fs::read_to_string(dir.join("benchmark.json")).ok()?).ok()?;
    let est: EstimatesJson =
        serde_json::from_str(&fs::read_to_string(dir.join("estimates.json")).ok()?).ok()?;
    let (bytes, elements) = match bench.throughput {
        Some(ThroughputJson::Bytes(n) | ThroughputJson::BytesDecimal(n)) => (Some(n), None),
        Some(ThroughputJson::Elements(n)) => (None, Some(n)),
        _ => (None, None),
    };
    Some((
        bench.full_id,
        Criterion {
            median_ns: est.median.point_estimate,
            bytes,
            elements,
        },
    ))
}

/// The CPython script's output.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CPython {
    pub(crate) python: String,
    #[serde(default)]
    pub(crate) quick: bool,
    pub(crate) results: BTreeMap<String, CPythonResult>,
}

/// One CPython measurement: a median time per operation, a ratio, or the
/// memory of idle processes.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct CPythonResult {
    pub(crate) median_ns: Option<f64>,
    pub(crate) ratio: Option<f64>,
    pub(crate) pss_bytes: Option<f64>,
}

pub(crate) fn read_cpython(path: &Path) -> Result<CPython, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// numpy_fill.py's output: numpy's results, or why it skipped them.
#[derive(Deserialize)]
struct NumpyJson {
    skipped: Option<String>,
    numpy: Option<String>,
    #[serde(default)]
    results: BTreeMap<String, CPythonResult>,
}

/// numpy_fill.py's results; `Err` says why there are none.
pub(crate) fn read_numpy(path: &Path) -> Result<BTreeMap<String, CPythonResult>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_numpy(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_numpy(text: &str) -> Result<BTreeMap<String, CPythonResult>, String> {
    let numpy: NumpyJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(why) = numpy.skipped {
        return Err(format!("numpy was skipped: {why}"));
    }
    eprintln!(
        "bench_report: numpy {} measured",
        numpy.numpy.as_deref().unwrap_or("?")
    );
    Ok(numpy.results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_criterion_output_and_skips_reports() {
        let root = std::env::temp_dir().join(format!("bench_report_test_{}", std::process::id()));
        let new = root.join("queue_throughput/mp_queue/1KiB/new");
        let report = root.join("queue_throughput/report/new");
        for dir in [&new, &report] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"queue/throughput","function_id":"mp_queue","value_str":"1KiB",
                "throughput":{"Bytes":1024},"full_id":"queue/throughput/mp_queue/1KiB",
                "directory_name":"queue_throughput/mp_queue/1KiB","title":"t"}"#,
        )
        .unwrap();
        fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":5.0},"median":{"point_estimate":4.5,"standard_error":1}}"#,
        )
        .unwrap();
        fs::write(
            root.join("queue_throughput/paired.json"),
            r#"{"full_id":"queue/throughput/floor_beside","median_ns":3.25}"#,
        )
        .unwrap();
        let w4 = root.join("shm_value_lock_increment/mp_value_2_processes");
        let memory = root.join("memory/pss/forkserver");
        let stamps = root.join("mp-runs/1-2");
        for dir in [&w4, &memory, &stamps] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(
            w4.join("handoffs.json"),
            r#"{"full_id":"shm/x/handoffs","handoffs":27,"increments":1000}"#,
        )
        .unwrap();
        fs::write(
            memory.join("pss.json"),
            r#"{"full_id":"memory/pss/forkserver","pss_bytes":884736,"processes":1}"#,
        )
        .unwrap();
        fs::write(stamps.join("pss.json"), "not a result").unwrap();
        let w8 = root.join("w8");
        fs::create_dir_all(&w8).unwrap();
        fs::write(
            w8.join("summary.json"),
            r#"{"results": [{"full_id": "w8/apply_round_trip/mp_redis", "median_ns": 150000},
                            {"full_id": "w8/celery", "note": "Celery skipped: no pip"},
                            {"full_id": "w8/unknown_kind"}]}"#,
        )
        .unwrap();
        let found = read_criterion(&root);
        fs::remove_dir_all(&root).unwrap();
        assert!(found.values().all(|e| e.written.is_some()), "{found:?}");
        let time = |median_ns, bytes| {
            Measurement::Time(Criterion {
                median_ns,
                bytes,
                elements: None,
            })
        };
        assert_eq!(
            found
                .into_iter()
                .map(|(id, e)| (id, e.measurement))
                .collect::<Vec<_>>(),
            [
                (
                    "memory/pss/forkserver".to_string(),
                    Measurement::Pss(Pss {
                        bytes: 884_736.0,
                        processes: 1
                    })
                ),
                (
                    "queue/throughput/floor_beside".to_string(),
                    time(3.25, None)
                ),
                (
                    "queue/throughput/mp_queue/1KiB".to_string(),
                    time(4.5, Some(1024))
                ),
                (
                    "shm/x/handoffs".to_string(),
                    Measurement::Handoffs(Handoffs {
                        handoffs: 27,
                        increments: 1000
                    })
                ),
                (
                    "w8/apply_round_trip/mp_redis".to_string(),
                    time(150_000.0, None)
                ),
                (
                    "w8/celery".to_string(),
                    Measurement::Note("Celery skipped: no pip".into())
                ),
            ]
        );
    }

    #[test]
    fn numpy_results_or_why_not() {
        let results = parse_numpy(
            r#"{"python": "3.11.7", "numpy": "2.1.0", "results":
                {"shm/fill_256MiB_f64/numpy_2_processes": {"median_ns": 9e7, "samples": 15}}}"#,
        )
        .unwrap();
        assert_eq!(
            results["shm/fill_256MiB_f64/numpy_2_processes"].median_ns,
            Some(9e7)
        );
        assert_eq!(
            parse_numpy(r#"{"skipped": "pip could not install numpy: offline"}"#).unwrap_err(),
            "numpy was skipped: pip could not install numpy: offline"
        );
        assert!(parse_numpy("not json").is_err());
    }

    #[test]
    fn missing_criterion_dir_is_empty() {
        assert!(read_criterion(Path::new("/nonexistent/criterion")).is_empty());
    }
}
