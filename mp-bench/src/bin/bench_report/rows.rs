//! The comparison table: which criterion id and which CPython key measure
//! each workload case of SPEC (W1-W7) and the memory of mp's helper
//! processes, and the peers measured beside each. The rows of the other
//! crates' benches (W8, W9) and of leases are in `rows_redis_python_leases`.

use crate::measurements::{CPython, Criterion, Handoffs, Results};
use crate::rows_redis_python_leases::ROWS_REDIS_PYTHON_LEASES;
use crate::values::Value;

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
    /// Where CPython's number comes from.
    pub(crate) cpython: Theirs,
    /// Rust peers and floors measured in the same criterion group:
    /// (label, criterion id). Missing ones are left out.
    pub(crate) peers: &'static [(&'static str, &'static str)],
    pub(crate) kind: Kind,
    /// SPEC's target for mp.
    pub(crate) target: &'static str,
}

/// Where a row's CPython number comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Theirs {
    /// A key in the CPython scripts' results (workloads.py, numpy_fill.py).
    Script(&'static str),
    /// A result of the same run as mp's: a bench that measured the Python
    /// side itself (Celery, CPython's own Listener), by id.
    Bench(&'static str),
    /// No Python counterpart is measured.
    Absent,
}

use Theirs::{Absent, Script};

/// Every row of the table: SPEC's workloads, then the others.
pub(crate) fn all() -> impl Iterator<Item = &'static Row> {
    SPEC_ROWS.iter().chain(ROWS_REDIS_PYTHON_LEASES)
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
/// W1's floor in the batches run alternately with mp's
/// (mp-bench/benches/process.rs), beside criterion's rows.
const FORK_FLOOR_SAME_BATCHES: &str = "raw fork+waitpid, same batches";
const PROCSPAWN: (&str, &str) = ("procspawn", "process/start_join/procspawn");

/// SPEC's rows, in its order.
const SPEC_ROWS: &[Row] = &[
    Row {
        workload: W1,
        case: "fork",
        mp: "process/start_join/fork",
        cpython: Script("process/start_join/fork"),
        peers: &[FORK_FLOOR],
        kind: Kind::Latency,
        target: "≤ 1.5× raw fork",
    },
    Row {
        workload: W1,
        case: "forkserver",
        mp: "process/start_join/forkserver",
        cpython: Script("process/start_join/forkserver"),
        peers: &[FORK_FLOOR],
        kind: Kind::Latency,
        target: "≤ 2× raw fork",
    },
    Row {
        workload: W1,
        case: "spawn",
        mp: "process/start_join/spawn",
        cpython: Script("process/start_join/spawn"),
        peers: &[
            ("re-exec of own binary", "process/start_join/raw_reexec"),
            PROCSPAWN,
        ],
        kind: Kind::Latency,
        target: "≤ 1.2× re-exec",
    },
    Row {
        workload: W1,
        case: "fork, interleaved batches",
        mp: "process/start_join/interleaved_batches/fork",
        cpython: Absent,
        peers: &[(
            FORK_FLOOR_SAME_BATCHES,
            "process/start_join/interleaved_batches/raw_fork_waitpid_beside_fork",
        )],
        kind: Kind::Latency,
        target: "≤ 1.5× raw fork",
    },
    Row {
        workload: W1,
        case: "forkserver, interleaved batches",
        mp: "process/start_join/interleaved_batches/forkserver",
        cpython: Absent,
        peers: &[(
            FORK_FLOOR_SAME_BATCHES,
            "process/start_join/interleaved_batches/raw_fork_waitpid_beside_forkserver",
        )],
        kind: Kind::Latency,
        target: "≤ 2× raw fork",
    },
    Row {
        workload: W1,
        case: "spawn, interleaved batches",
        mp: "process/start_join/interleaved_batches/spawn",
        cpython: Absent,
        peers: &[(
            "re-exec of own binary, same batches",
            "process/start_join/interleaved_batches/raw_reexec_beside_spawn",
        )],
        kind: Kind::Latency,
        target: "≤ 1.2× re-exec",
    },
    Row {
        workload: W2,
        case: "small object (u64)",
        mp: "pipe/roundtrip/u64",
        cpython: Script("pipe/roundtrip/u64"),
        peers: &[
            (
                "mp awaited (recv_async), tokio current-thread",
                "pipe/roundtrip/u64_awaited_current_thread",
            ),
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
        cpython: Script("pipe/roundtrip/bytes64"),
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
        cpython: Script("queue/throughput/u64"),
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
        cpython: Script("queue/throughput/1KiB"),
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
        cpython: Script("queue/throughput/1MiB"),
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
        cpython: Script("shm/value_lock_increment/2_processes"),
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
        cpython: Script("pool/map/100k_default_chunks"),
        peers: &[("serial loop, this process", "pool/map/trivial_100k/serial")],
        kind: Kind::Rate { bytes: None },
        target: "≥ 30 M/s",
    },
    Row {
        workload: W5,
        case: "10k items, chunksize 1",
        mp: "pool/map/chunk1_10k/mp",
        cpython: Script("pool/map/10k_chunksize_1"),
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
        cpython: Script("pool/apply/roundtrip"),
        peers: &[
            (
                "mp awaited, tokio current-thread",
                "pool/apply/roundtrip/mp_awaited_current_thread",
            ),
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
        cpython: Script("pool/cpu_bound_speedup"),
        peers: &[],
        kind: Kind::Speedup,
        target: "≥ 1.9×",
    },
    Row {
        workload: W6,
        case: "list append",
        mp: "manager/list_append",
        cpython: Script("manager/list_append"),
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
        cpython: Script("manager/dict_set"),
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
        cpython: Script("manager/value_get"),
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
        cpython: Script("shm/create_attach_unlink_1MiB"),
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
        cpython: Script("memory/pss/pool_worker_idle/fork"),
        peers: &[],
        kind: Kind::Memory,
        target: WORKER_TARGET,
    },
    Row {
        workload: MEMORY,
        case: "Pool(4) worker, forkserver",
        mp: "memory/pss/pool_worker_idle/forkserver",
        cpython: Script("memory/pss/pool_worker_idle/forkserver"),
        peers: &[],
        kind: Kind::Memory,
        target: WORKER_TARGET,
    },
    Row {
        workload: MEMORY,
        case: "Pool(4) worker, spawn",
        mp: "memory/pss/pool_worker_idle/spawn",
        cpython: Script("memory/pss/pool_worker_idle/spawn"),
        peers: &[],
        kind: Kind::Memory,
        target: "≤ 640 KiB + its rings",
    },
    Row {
        workload: MEMORY,
        case: "manager server (forkserver)",
        mp: "memory/pss/manager_server/forkserver",
        cpython: Script("memory/pss/manager_server/forkserver"),
        peers: &[],
        kind: Kind::Memory,
        target: "≤ 1 MiB + its rings",
    },
    Row {
        workload: MEMORY,
        case: "forkserver",
        mp: "memory/pss/forkserver",
        cpython: Script("memory/pss/forkserver"),
        peers: &[],
        kind: Kind::Memory,
        target: "≤ 1 MiB",
    },
];

/// A row's value from a criterion measurement.
pub(crate) fn from_criterion(kind: Kind, c: &Criterion) -> Option<Value> {
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

    /// CPython's value, from the script's results or this run's.
    pub(crate) fn cpython_value(
        &self,
        results: &Results,
        cpython: Option<&CPython>,
    ) -> Option<Value> {
        let key = match self.cpython {
            Theirs::Bench(id) => return from_criterion(self.kind, results.time(id)?),
            Theirs::Script(key) => key,
            Theirs::Absent => return None,
        };
        let r = cpython?.results.get(key)?;
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
        let theirs = match self.cpython {
            Theirs::Bench(id) => Some(id),
            Theirs::Script(_) | Theirs::Absent => None,
        };
        self.mp
            .split('|')
            .chain(self.peers.iter().map(|(_, id)| *id))
            .chain(theirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::{Measurement, Pss};

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
        let row = all()
            .find(|r| r.mp == "queue/throughput/mp_queue/1KiB")
            .unwrap();
        assert_eq!(row.mp_value(&crit), Some(Value::Rate(2e6, Some(1024))));
        assert_eq!(
            row.peer_values(&crit),
            [("ipc-channel", Value::Rate(2e5, Some(1024)))]
        );
        let speedup = all().find(|r| r.kind == Kind::Speedup).unwrap();
        assert_eq!(speedup.mp_value(&crit), None);

        // A whole map of 1000 items per iteration: 1 us per item.
        crit.0.insert(
            "pool/map/trivial_100k/mp".into(),
            time(1e6, None, Some(1000)),
        );
        let pool = all().find(|r| r.mp == "pool/map/trivial_100k/mp").unwrap();
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
        let memory = all().find(|r| r.mp == "memory/pss/forkserver").unwrap();
        assert_eq!(memory.mp_value(&crit), Some(Value::Bytes(884_736.0)));
        let w4 = all().find(|r| r.mp == w4).unwrap();
        assert_eq!(w4.handoffs(&crit), Some(&counted));
        assert_eq!(memory.handoffs(&crit), None);
    }
}
