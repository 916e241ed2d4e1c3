//! The numbers: criterion's `estimates.json` files, and the CPython
//! script's JSON.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

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

/// Every benchmark under `dir` (criterion's output directory), by full id
/// (`group/function[/value]`). A missing directory is an empty map.
///
/// Besides criterion's own results, a bench may leave `paired.json` files
/// (`{"full_id": ..., "median_ns": ...}`): a floor it measured between its
/// own samples, at the same moments (mp-bench/benches/manager.rs does).
pub(crate) fn read_criterion(dir: &Path) -> BTreeMap<String, Criterion> {
    let mut found = BTreeMap::new();
    walk(dir, &mut found);
    found
}

fn walk(dir: &Path, found: &mut BTreeMap<String, Criterion>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "paired.json") {
            if let Some((id, c)) = read_paired(&path) {
                found.insert(id, c);
            }
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some((id, c)) = read_one(&path) {
                found.insert(id, c);
            }
        } else if path.file_name().is_none_or(|n| n != "report") {
            walk(&path, found);
        }
    }
}

#[derive(Deserialize)]
struct PairedJson {
    full_id: String,
    median_ns: f64,
}

fn read_paired(path: &Path) -> Option<(String, Criterion)> {
    let paired: PairedJson = serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    Some((
        paired.full_id,
        Criterion {
            median_ns: paired.median_ns,
            bytes: None,
            elements: None,
        },
    ))
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

/// One CPython measurement: a median time per operation, or a ratio.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct CPythonResult {
    pub(crate) median_ns: Option<f64>,
    pub(crate) ratio: Option<f64>,
}

pub(crate) fn read_cpython(path: &Path) -> Result<CPython, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
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
        let found = read_criterion(&root);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [
                (
                    "queue/throughput/floor_beside".to_string(),
                    Criterion {
                        median_ns: 3.25,
                        bytes: None,
                        elements: None,
                    }
                ),
                (
                    "queue/throughput/mp_queue/1KiB".to_string(),
                    Criterion {
                        median_ns: 4.5,
                        bytes: Some(1024),
                        elements: None,
                    }
                )
            ]
        );
    }

    #[test]
    fn missing_criterion_dir_is_empty() {
        assert!(read_criterion(Path::new("/nonexistent/criterion")).is_empty());
    }
}
