//! The comparison table: which criterion id and which CPython key measure
//! each workload case of SPEC (W1-W7) and the memory of mp's helper
//! processes, and the peers measured beside each.

use crate::measurements::{CPython, Criterion, Handoffs, Results};

/// How a row's numbers read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    /// Time per operation; lower is better.
    Latency,
    /// Items per second (from the time per item); higher is better. With
    /// `bytes`, shown as bytes per second.
    Rate { bytes: Option<u64> },
    /// A speedup: `serial / parallel` of the two criterion ids in `mp`
    /// (`"serial_id|parallel_id"`), or the CPython result's `ratio`.
    Speedup,
    /// The memory of idle processes (PSS); lower is better.
    Memory,
}

/// One workload case.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub(crate) workload: &'static str,
    pub(crate) case: &'static str,
    /// The criterion id of mp's measurement.
    pub(crate) mp: &'static str,
    /// The key in the CPython script's results.
    pub(crate) cpython: &'static str,
    /// Rust peers and floors measured in the same criterion group:
    /// (label, criterion id). Missing ones are left out.
    pub(crate) peers: &'static [(&'static str, &'static str)],
    pub(crate) kind: Kind,
    /// SPEC's target for mp.
    pub(crate) target: &'static str,
}

const W1: &str = "W1 start+join a trivial child";
const W2: &str = "W2 Pipe round trip";
const W3: &str = "W3 Queue, 1 producer → 1 consumer";
const W4: &str = "W4 `Value` += 1 under its lock, 2 processes";
const W5: &str = "W5 Pool(2).map x → x²";
const W6: &str = "W6 Manager call";
const W7: &str = "W7 SharedMemory 1 MiB create+attach+close+unlink";
const MEMORY: &str = "Memory: PSS of an idle process";

/// W6's floor, measured between the manager calls' own blocks (the ratio
/// the target is about), and in a bench of its own.
const PIPE_BESIDE: &str = "Pipe round trip, same moments";
const PIPE_ALONE: &str = "Pipe round trip, own bench";

/// The blocking floors wait as mp does not: they sleep at once, where mp
/// spins up to 30 µs first (the `spin then block` floors wait as mp does).
const SPIN_8B: (&str, &str) = (
    "raw socketpair 8 B, spin then block",
    "pipe/roundtrip/raw_socketpair_8B_spin_then_block",
);
const BLOCKING_8B: (&str, &str) = (
    "raw socketpair 8 B, blocking",
    "pipe/roundtrip/raw_socketpair_8B",
);

/// What W3's floors hold in flight: as much as mp's ring.
const W3_RAW_PIPE: &str = "raw pipe, batched, ring-sized buffers";
const W3_MPSC: &str = "std mpsc, 2 threads, ring-sized";

/// mp's worker PSS today, the bound the shared-memory fast path may only
/// grow by its rings (issue 17).
const WORKER_TARGET: &str = "≤ 400 KiB + its rings";

const FORK_FLOOR: (&str, &str) = ("raw fork+waitpid", "process/start_join/raw_fork_waitpid");
const PROCSPAWN: (&str, &str) = ("procspawn", "process/start_join/procspawn");

/// Every row of the table, in SPEC's order.
pub(crate) const ROWS: &[Row] = &[
    Row {
        workload: W1,
        case: "fork",
        mp: "process/start_join/fork",
        cpython: "process/start_join/fork",
        peers: &[FORK_FLOOR],
        kind: Kind::Latency,
        target: "≤ 1.5× raw fork",
    },
    Row {
        workload: W1,
        case: "forkserver",
        mp: "process/start_join/forkserver",
        cpython: "process/start_join/forkserver",
        peers: &[FORK_FLOOR],
        kind: Kind::Latency,
        target: "≤ 2× raw fork",
    },
    Row {
        workload: W1,
        case: "spawn",
        mp: "process/start_join/spawn",
        cpython: "process/start_join/spawn",
        peers: &[
            ("re-exec of own binary", "process/start_join/raw_reexec"),
            PROCSPAWN,
        ],
        kind: Kind::Latency,
        target: "≤ 1.2× re-exec",
    },
    Row {
        workload: W2,
        case: "small object (u64)",
        mp: "pipe/roundtrip/u64",
        cpython: "pipe/roundtrip/u64",
        peers: &[
            SPIN_8B,
            BLOCKING_8B,
            (
                "ipc-channel, spin then block",
                "pipe/roundtrip/ipc_channel_spin_then_block",
            ),
            ("ipc-channel, blocking", "pipe/roundtrip/ipc_channel"),
        ],
        kind: Kind::Latency,
        target: "≤ 1.3× raw socketpair (spin then block)",
    },
    Row {
        workload: W2,
        case: "64 bytes",
        mp: "pipe/roundtrip/bytes64",
        cpython: "pipe/roundtrip/bytes64",
        peers: &[
            (
                "raw socketpair 64 B, spin then block",
                "pipe/roundtrip/raw_socketpair_64B_spin_then_block",
            ),
            (
                "raw socketpair 64 B, blocking",
                "pipe/roundtrip/raw_socketpair_64B",
            ),
        ],
        kind: Kind::Latency,
        target: "≤ 1.3× raw socketpair (spin then block)",
    },
    Row {
        workload: W3,
        case: "u64",
        mp: "queue/throughput/mp_queue/u64",
        cpython: "queue/throughput/u64",
        peers: &[
            ("ipc-channel", "queue/throughput/ipc_channel/u64"),
            (W3_RAW_PIPE, "queue/throughput/raw_pipe/u64"),
            (W3_MPSC, "queue/throughput/std_mpsc_threads/u64"),
        ],
        kind: Kind::Rate { bytes: None },
        target: "≥ 10 M items/s",
    },
    Row {
        workload: W3,
        case: "1 KiB",
        mp: "queue/throughput/mp_queue/1KiB",
        cpython: "queue/throughput/1KiB",
        peers: &[
            ("ipc-channel", "queue/throughput/ipc_channel/1KiB"),
            (W3_RAW_PIPE, "queue/throughput/raw_pipe/1KiB"),
            (W3_MPSC, "queue/throughput/std_mpsc_threads/1KiB"),
        ],
        kind: Kind::Rate { bytes: Some(1024) },
        target: "≥ 2 GB/s",
    },
    Row {
        workload: W3,
        case: "1 MiB",
        mp: "queue/throughput/mp_queue/1MiB",
        cpython: "queue/throughput/1MiB",
        peers: &[
            ("ipc-channel", "queue/throughput/ipc_channel/1MiB"),
            (W3_RAW_PIPE, "queue/throughput/raw_pipe/1MiB"),
            (W3_MPSC, "queue/throughput/std_mpsc_threads/1MiB"),
        ],
        kind: Kind::Rate {
            bytes: Some(1 << 20),
        },
        target: "≥ 5 GB/s",
    },
    Row {
        workload: W4,
        case: "per increment",
        mp: "shm/value_lock_increment/mp_value_2_processes",
        cpython: "shm/value_lock_increment/2_processes",
        peers: &[
            (
                "futex lock, uncontended",
                "shm/value_lock_increment/futex_lock_uncontended_floor",
            ),
            (
                "mp Value, uncontended",
                "shm/value_lock_increment/mp_value_uncontended",
            ),
        ],
        kind: Kind::Latency,
        target: "≤ 60 ns",
    },
    Row {
        workload: W5,
        case: "100k items, default chunks",
        mp: "pool/map/trivial_100k/mp",
        cpython: "pool/map/100k_default_chunks",
        peers: &[("serial loop, this process", "pool/map/trivial_100k/serial")],
        kind: Kind::Rate { bytes: None },
        target: "≥ 30 M/s",
    },
    Row {
        workload: W5,
        case: "10k items, chunksize 1",
        mp: "pool/map/chunk1_10k/mp",
        cpython: "pool/map/10k_chunksize_1",
        peers: &[
            ("procspawn pool", "pool/map/chunk1_10k/procspawn"),
            ("serial loop, this process", "pool/map/chunk1_10k/serial"),
        ],
        kind: Kind::Rate { bytes: None },
        target: "≥ 300 k/s",
    },
    Row {
        workload: W5,
        case: "apply round trip",
        mp: "pool/apply/roundtrip/mp",
        cpython: "pool/apply/roundtrip",
        peers: &[
            (
                "raw socketpair 8 B, spin then block",
                "pool/apply/roundtrip/raw_socketpair_spin_then_block",
            ),
            (
                "raw socketpair 8 B, blocking",
                "pool/apply/roundtrip/raw_socketpair",
            ),
        ],
        kind: Kind::Latency,
        target: "—",
    },
    Row {
        workload: W5,
        case: "CPU-bound speedup",
        mp: "pool/map/cpu_bound/serial|pool/map/cpu_bound/mp",
        cpython: "pool/cpu_bound_speedup",
        peers: &[],
        kind: Kind::Speedup,
        target: "≥ 1.9×",
    },
    Row {
        workload: W6,
        case: "list append",
        mp: "manager/list_append",
        cpython: "manager/list_append",
        peers: &[
            (PIPE_BESIDE, "manager/list_append/pipe_roundtrip_beside"),
            (PIPE_ALONE, "manager/pipe_roundtrip"),
        ],
        kind: Kind::Latency,
        target: "≤ 1.3× Pipe round trip (same moments)",
    },
    Row {
        workload: W6,
        case: "dict set",
        mp: "manager/dict_set",
        cpython: "manager/dict_set",
        peers: &[
            (PIPE_BESIDE, "manager/dict_set/pipe_roundtrip_beside"),
            (PIPE_ALONE, "manager/pipe_roundtrip"),
        ],
        kind: Kind::Latency,
        target: "≤ 1.3× Pipe round trip (same moments)",
    },
    Row {
        workload: W6,
        case: "value get",
        mp: "manager/value_get",
        cpython: "manager/value_get",
        peers: &[
            (PIPE_BESIDE, "manager/value_get/pipe_roundtrip_beside"),
            (PIPE_ALONE, "manager/pipe_roundtrip"),
        ],
        kind: Kind::Latency,
        target: "≤ 1.3× Pipe round trip (same moments)",
    },
    Row {
        workload: W7,
        case: "1 MiB",
        mp: "shm/create_attach_unlink_1MiB/mp_shared_memory",
        cpython: "shm/create_attach_unlink_1MiB",
        peers: &[(
            "shm_open+mmap+unlink",
            "shm/create_attach_unlink_1MiB/shm_open_mmap_unlink_floor",
        )],
        kind: Kind::Latency,
        target: "≤ 15 µs",
    },
    Row {
        workload: MEMORY,
        case: "Pool(4) worker, fork",
        mp: "memory/pss/pool_worker_idle/fork",
        cpython: "memory/pss/pool_worker_idle/fork",
        peers: &[],
        kind: Kind::Memory,
        target: WORKER_TARGET,
    },
    Row {
        workload: MEMORY,
        case: "Pool(4) worker, forkserver",
        mp: "memory/pss/pool_worker_idle/forkserver",
        cpython: "memory/pss/pool_worker_idle/forkserver",
        peers: &[],
        kind: Kind::Memory,
        target: WORKER_TARGET,
    },
    Row {
        workload: MEMORY,
        case: "Pool(4) worker, spawn",
        mp: "memory/pss/pool_worker_idle/spawn",
        cpython: "memory/pss/pool_worker_idle/spawn",
        peers: &[],
        kind: Kind::Memory,
        target: "≤ 640 KiB + its rings",
    },
    Row {
        workload: MEMORY,
        case: "manager server (forkserver)",
        mp: "memory/pss/manager_server/forkserver",
        cpython: "memory/pss/manager_server/forkserver",
        peers: &[],
        kind: Kind::Memory,
        target: "≤ 1 MiB + its rings",
    },
    Row {
        workload: MEMORY,
        case: "forkserver",
        mp: "memory/pss/forkserver",
        cpython: "memory/pss/forkserver",
        peers: &[],
        kind: Kind::Memory,
        target: "≤ 1 MiB",
    },
];

/// A measured value of a row's kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    /// Nanoseconds per operation.
    Time(f64),
    /// Operations per second, and bytes per operation if shown as bytes/s.
    Rate(f64, Option<u64>),
    /// A speedup factor.
    Speedup(f64),
    /// Bytes of memory.
    Bytes(f64),
}

impl Value {
    /// How many times better `self` is than `other` (> 1: `self` wins).
    pub(crate) fn advantage_over(self, other: Value) -> Option<f64> {
        let x = match (self, other) {
            (Value::Time(a), Value::Time(b)) | (Value::Bytes(a), Value::Bytes(b)) => b / a,
            (Value::Rate(a, _), Value::Rate(b, _)) | (Value::Speedup(a), Value::Speedup(b)) => {
                a / b
            }
            _ => return None,
        };
        x.is_finite().then_some(x)
    }

    /// The number plotted: ns for times, operations/s for rates, bytes.
    pub(crate) fn plotted(self) -> f64 {
        match self {
            Value::Time(x) | Value::Rate(x, _) | Value::Speedup(x) | Value::Bytes(x) => x,
        }
    }
}

/// Formats `x` with three significant digits and a unit prefix.
fn si(x: f64, units: &[(f64, &str)]) -> String {
    let (scale, unit) = units
        .iter()
        .copied()
        .find(|(scale, _)| x >= *scale)
        .unwrap_or(*units.last().unwrap());
    let v = x / scale;
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match *self {
            Value::Time(ns) => si(ns, &[(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")]),
            Value::Rate(per_s, None) => si(
                per_s,
                &[(1e9, "G/s"), (1e6, "M/s"), (1e3, "k/s"), (1.0, "/s")],
            ),
            Value::Rate(per_s, Some(bytes)) => si(
                per_s * bytes as f64,
                &[(1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"), (1.0, "B/s")],
            ),
            Value::Speedup(x) => format!("{x:.2}×"),
            Value::Bytes(b) => si(
                b,
                &[
                    (1024.0 * 1024.0 * 1024.0, "GiB"),
                    (1024.0 * 1024.0, "MiB"),
                    (1024.0, "KiB"),
                    (1.0, "B"),
                ],
            ),
        };
        f.write_str(&s)
    }
}

/// A row's value from a criterion measurement.
fn from_criterion(kind: Kind, c: &Criterion) -> Option<Value> {
    match kind {
        Kind::Rate { .. } => from_ns(kind, c.ns_per_item()),
        _ => from_ns(kind, c.median_ns),
    }
}

fn from_ns(kind: Kind, ns: f64) -> Option<Value> {
    if !(ns.is_finite() && ns > 0.0) {
        return None;
    }
    Some(match kind {
        Kind::Latency => Value::Time(ns),
        Kind::Rate { bytes } => Value::Rate(1e9 / ns, bytes),
        Kind::Speedup | Kind::Memory => return None,
    })
}

impl Row {
    /// mp's value, from the benches' results.
    pub(crate) fn mp_value(&self, results: &Results) -> Option<Value> {
        match self.kind {
            Kind::Speedup => {
                let (serial, parallel) = self.mp.split_once('|')?;
                let s = results.time(serial)?.median_ns;
                let p = results.time(parallel)?.median_ns;
                Some(Value::Speedup(s / p)).filter(|v| v.plotted().is_finite())
            }
            Kind::Memory => Some(Value::Bytes(results.pss(self.mp)?.bytes)),
            kind => from_criterion(kind, results.time(self.mp)?),
        }
    }

    /// CPython's value, from the script's results.
    pub(crate) fn cpython_value(&self, cpython: &CPython) -> Option<Value> {
        let r = cpython.results.get(self.cpython)?;
        match self.kind {
            Kind::Speedup => r.ratio.map(Value::Speedup),
            Kind::Memory => r.pss_bytes.map(Value::Bytes),
            kind => from_ns(kind, r.median_ns?),
        }
    }

    /// The peers that were measured: (label, value).
    pub(crate) fn peer_values(&self, results: &Results) -> Vec<(&'static str, Value)> {
        self.peers
            .iter()
            .filter_map(|(label, id)| Some((*label, from_criterion(self.kind, results.time(id)?)?)))
            .collect()
    }

    /// How often the lock changed hands in mp's measurement, if the bench
    /// counted it (as `<mp id>/handoffs`).
    pub(crate) fn handoffs<'r>(&self, results: &'r Results) -> Option<&'r Handoffs> {
        results.handoffs(&format!("{}/handoffs", self.mp))
    }

    /// The criterion ids this row reads.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &'static str> {
        self.mp
            .split('|')
            .chain(self.peers.iter().map(|(_, id)| *id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::{Measurement, Pss};

    #[test]
    fn values_format_with_units() {
        assert_eq!(Value::Time(85.0).to_string(), "85.0 ns");
        assert_eq!(Value::Time(1234.0).to_string(), "1.23 µs");
        assert_eq!(Value::Time(2_900_000.0).to_string(), "2.90 ms");
        assert_eq!(Value::Rate(12.3e6, None).to_string(), "12.3 M/s");
        assert_eq!(Value::Rate(95_000.0, None).to_string(), "95.0 k/s");
        assert_eq!(Value::Rate(2.0e6, Some(1024)).to_string(), "2.05 GB/s");
        assert_eq!(Value::Speedup(1.93).to_string(), "1.93×");
        assert_eq!(Value::Bytes(330.0 * 1024.0).to_string(), "330 KiB");
        assert_eq!(Value::Bytes(3_740_928.0).to_string(), "3.57 MiB");
    }

    #[test]
    fn advantage_is_above_one_when_mp_wins() {
        assert_eq!(
            Value::Time(10.0).advantage_over(Value::Time(50.0)),
            Some(5.0)
        );
        assert_eq!(
            Value::Rate(100.0, None).advantage_over(Value::Rate(25.0, None)),
            Some(4.0)
        );
        assert_eq!(
            Value::Time(1.0).advantage_over(Value::Rate(1.0, None)),
            None
        );
        assert_eq!(
            Value::Bytes(1e6).advantage_over(Value::Bytes(4e6)),
            Some(4.0)
        );
    }

    #[test]
    fn rows_read_their_ids() {
        let time = |median_ns, bytes, elements| {
            Measurement::Time(Criterion {
                median_ns,
                bytes,
                elements,
            })
        };
        let mut crit = Results::default();
        crit.0.insert(
            "queue/throughput/mp_queue/1KiB".into(),
            time(500.0, Some(1024), None),
        );
        crit.0.insert(
            "queue/throughput/ipc_channel/1KiB".into(),
            time(5000.0, Some(1024), None),
        );
        let row = ROWS
            .iter()
            .find(|r| r.mp == "queue/throughput/mp_queue/1KiB")
            .unwrap();
        assert_eq!(row.mp_value(&crit), Some(Value::Rate(2e6, Some(1024))));
        assert_eq!(
            row.peer_values(&crit),
            [("ipc-channel", Value::Rate(2e5, Some(1024)))]
        );
        let speedup = ROWS.iter().find(|r| r.kind == Kind::Speedup).unwrap();
        assert_eq!(speedup.mp_value(&crit), None);

        // A whole map of 1000 items per iteration: 1 us per item.
        crit.0.insert(
            "pool/map/trivial_100k/mp".into(),
            time(1e6, None, Some(1000)),
        );
        let pool = ROWS
            .iter()
            .find(|r| r.mp == "pool/map/trivial_100k/mp")
            .unwrap();
        assert_eq!(pool.mp_value(&crit), Some(Value::Rate(1e6, None)));

        // Memory rows read pss.json results; W4 its hand-off count.
        crit.0.insert(
            "memory/pss/forkserver".into(),
            Measurement::Pss(Pss {
                bytes: 884_736.0,
                processes: 1,
            }),
        );
        let w4 = "shm/value_lock_increment/mp_value_2_processes";
        let counted = Handoffs {
            handoffs: 27,
            increments: 1000,
        };
        crit.0.insert(
            format!("{w4}/handoffs"),
            Measurement::Handoffs(counted.clone()),
        );
        let memory = ROWS
            .iter()
            .find(|r| r.mp == "memory/pss/forkserver")
            .unwrap();
        assert_eq!(memory.mp_value(&crit), Some(Value::Bytes(884_736.0)));
        let w4 = ROWS.iter().find(|r| r.mp == w4).unwrap();
        assert_eq!(w4.handoffs(&crit), Some(&counted));
        assert_eq!(memory.handoffs(&crit), None);
    }
}
