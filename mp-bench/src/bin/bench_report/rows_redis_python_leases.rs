//! The rows measured outside SPEC's W1-W7: mp-redis's W8 (issue 16),
//! mp-python's W9 (issue 15), both from their crates' own benches run in
//! the same run, whose Python side each bench measures itself (W9 twice:
//! criterion's medians, one side after the other, and the bench's medians
//! of batches run alternately, which a change in the machine's load hits
//! alike), and leases
//! (issue 18, mp-bench's `shm/fill_256MiB_f64`, numpy's side from
//! `numpy_fill.py`).

use crate::rows::Theirs::{Absent, Bench, Script};
use crate::rows::{Kind, Row};

const W8: &str = "W8 mp-redis, 2 workers, one redis-server (CPython column: Celery)";
const W9: &str = "W9 a stdlib Python client of mp (CPython column: CPython's own server)";
const LEASES: &str =
    "Leases: 256 MiB of f64 filled by 2 processes, each its half (CPython column: numpy)";

const MP_POOL_LOCAL: &str = "mp local Pool(2), the floor";

/// The W8, W9 and lease rows.
pub(crate) const ROWS_REDIS_PYTHON_LEASES: &[Row] = &[
    Row {
        workload: W8,
        case: "map, chunksize 1 (2000 tasks)",
        mp: "w8/map_chunksize_1/mp_redis",
        cpython: Bench("w8/map_chunksize_1/celery"),
        peers: &[(MP_POOL_LOCAL, "w8/map_chunksize_1/mp_pool_local")],
        kind: Kind::Rate { bytes: None },
        target: "≥ 10× Celery's tasks/s",
    },
    Row {
        workload: W8,
        case: "map, chunks of 1000 (100k items)",
        mp: "w8/map_chunked_1000/mp_redis",
        cpython: Bench("w8/map_chunked_1000/celery"),
        peers: &[(MP_POOL_LOCAL, "w8/map_chunked_1000/mp_pool_local")],
        kind: Kind::Rate { bytes: None },
        target: "≥ 100× Celery's items/s",
    },
    Row {
        workload: W8,
        case: "apply round trip",
        mp: "w8/apply_round_trip/mp_redis",
        cpython: Bench("w8/apply_round_trip/celery"),
        peers: &[(MP_POOL_LOCAL, "w8/apply_round_trip/mp_pool_local")],
        kind: Kind::Latency,
        target: "≤ 0.1× Celery's",
    },
    Row {
        workload: W8,
        case: "recovery after a worker's SIGKILL (worker elsewhere)",
        mp: "w8/recovery_after_sigkill/worker_elsewhere",
        cpython: Absent,
        peers: &[(
            "a local worker of the pool",
            "w8/recovery_after_sigkill/local_worker",
        )],
        kind: Kind::Latency,
        target: "reported",
    },
    Row {
        workload: W9,
        case: "round trip to an mp `Listener` (vs a Python `Listener`)",
        mp: "python_wire/roundtrip/python_client_to_mp_listener",
        cpython: Bench("python_wire/roundtrip/python_client_to_python_listener"),
        peers: &[],
        kind: Kind::Latency,
        target: "no slower than the Python `Listener`",
    },
    Row {
        workload: W9,
        case: "the same round trips, in interleaved batches",
        mp: "python_wire/roundtrip/interleaved_batches/python_client_to_mp_listener",
        cpython: Bench(
            "python_wire/roundtrip/interleaved_batches/python_client_to_python_listener",
        ),
        peers: &[],
        kind: Kind::Latency,
        target: "no slower than the Python `Listener`",
    },
    Row {
        workload: W9,
        case: "queue put+get through an mp manager (vs CPython's manager)",
        mp: "python_manager/queue_put_get/python_client_to_mp_manager",
        cpython: Bench("python_manager/queue_put_get/python_client_to_python_manager"),
        peers: &[],
        kind: Kind::Latency,
        target: "≥ 2× CPython's calls/s",
    },
    Row {
        workload: W9,
        case: "the same calls, in interleaved batches",
        mp: "python_manager/queue_put_get/interleaved_batches/python_client_to_mp_manager",
        cpython: Bench(
            "python_manager/queue_put_get/interleaved_batches/python_client_to_python_manager",
        ),
        peers: &[],
        kind: Kind::Latency,
        target: "≥ 2× CPython's calls/s",
    },
    Row {
        workload: LEASES,
        case: "2 processes, a `Lease` each",
        mp: "shm/fill_256MiB_f64/mp_lease_2_processes",
        cpython: Script("shm/fill_256MiB_f64/numpy_2_processes"),
        peers: &[(
            "1 process, plain slice (the floor)",
            "shm/fill_256MiB_f64/one_process_floor",
        )],
        kind: Kind::Rate {
            bytes: Some(256 << 20),
        },
        target: "within 1.2× of the floor",
    },
];

#[cfg(test)]
mod tests {
    use crate::measurements::{CPython, CPythonResult, Criterion, Measurement, Results};
    use crate::rows::all;
    use crate::values::Value;

    fn time(ns: f64) -> Measurement {
        Measurement::Time(Criterion {
            median_ns: ns,
            bytes: None,
            elements: None,
        })
    }

    #[test]
    fn w8_and_w9_read_the_python_side_from_the_same_run() {
        let mut results = Results::default();
        for (id, ns) in [
            ("w8/map_chunksize_1/mp_redis", 1e9 / 20_000.0),
            ("w8/map_chunksize_1/celery", 1e9 / 500.0),
            (
                "python_wire/roundtrip/python_client_to_python_listener",
                40_000.0,
            ),
        ] {
            results.0.insert(id.into(), time(ns));
        }
        let row = |mp: &str| all().find(|r| r.mp == mp).unwrap();
        let w8 = row("w8/map_chunksize_1/mp_redis");
        assert_eq!(w8.mp_value(&results), Some(Value::Rate(20_000.0, None)));
        assert_eq!(
            w8.cpython_value(&results, None),
            Some(Value::Rate(500.0, None))
        );
        assert!(w8.ids().any(|id| id == "w8/map_chunksize_1/celery"));
        let w9 = row("python_wire/roundtrip/python_client_to_mp_listener");
        assert_eq!(w9.mp_value(&results), None);
        assert_eq!(
            w9.cpython_value(&results, None),
            Some(Value::Time(40_000.0))
        );
        // The recovery row has no Python side.
        let recovery = row("w8/recovery_after_sigkill/worker_elsewhere");
        assert_eq!(recovery.cpython_value(&results, None), None);
    }

    #[test]
    fn leases_read_numpy_from_the_script_and_show_bytes_per_second() {
        let mut results = Results::default();
        results.0.insert(
            "shm/fill_256MiB_f64/mp_lease_2_processes".into(),
            time(50e6),
        );
        let numpy = CPythonResult {
            median_ns: Some(100e6),
            ..CPythonResult::default()
        };
        let cpython = CPython {
            results: [("shm/fill_256MiB_f64/numpy_2_processes".into(), numpy)].into(),
            ..CPython::default()
        };
        let row = all()
            .find(|r| r.mp == "shm/fill_256MiB_f64/mp_lease_2_processes")
            .unwrap();
        let mp = row.mp_value(&results).unwrap();
        assert_eq!(mp.to_string(), "5.37 GB/s");
        assert_eq!(
            row.cpython_value(&results, Some(&cpython)),
            Some(Value::Rate(10.0, Some(256 << 20)))
        );
    }
}
