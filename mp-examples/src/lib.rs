//! Every program of the seed `multiprocessing` tutorials, ported to mp.
//!
//! Each program is a module with a `main`, a binary of the same name
//! (`cargo run -p mp-examples --bin pipe_sender_receiver`), and a step of
//! the `tour` binary, which runs them all in order:
//!
//! ```sh
//! cargo run --release -p mp-examples --bin tour
//! ```
//!
//! | program | Python original | what it shows |
//! |---|---|---|
//! | [`simple_processes`] | seed 000 §1 | `Process`, `start`, `is_alive`, `join`, pids |
//! | [`shared_array_value_add_sum`] | seed 000 §2 | `Array` and `Value` written by a child |
//! | [`server_process_records`] | seed 000 §3 | a `Manager` list shared by two children |
//! | [`queue_square_list`] | seed 000 §4, seed 002 solution 3 | a `Queue` filled by one child, drained by another |
//! | [`cpu_count_workers`] | seed 001 | one process per CPU (`cpu_count`) |
//! | [`shared_value_lock`] | seed 001 "Shared value" | `Value` += 1 under a `Lock` from two processes |
//! | [`shared_array_lock`] | seed 001 "Shared array" | `Array` updated under a `Lock` from two processes |
//! | [`queue_square_negative`] | seed 001 "Queues" | two producers, one `Queue` |
//! | [`pool_map_cube`] | seed 001 "Pool" | `Pool()` and `map` |
//! | [`shared_array_value_square_list`] | seed 002 solution 1 | `Array`/`Value` seen from child and parent |
//! | [`manager_records`] | seed 002 solution 2 | a `Manager` list of records |
//! | [`pipe_sender_receiver`] | seed 002 solution 4 | `Pipe`, `send`/`recv`, an `"END"` message |
//! | [`threads_vs_processes`] | seed 003 | a thread and a process running the same worker |
//! | [`tasks_with_pids`] | seed 003 | two tasks reporting their pids |
//! | [`pool_map_square`] | seed 003 | `with Pool(4) as pool:` and `map` |
//! | [`queue_producer_consumer`] | seed 003 | producer and consumer functions on a `Queue` |
//! | [`daemon_processes`] | seed 004 | daemon vs non-daemon at exit, `current_process().name` |
//! | [`producer_consumer_classes`] | seed 004 | `Process` subclasses (`Run`), `qsize` |
//! | [`pipe_chain_eof`] | seed 004 | a two-stage pipe chain ending on EOF |
//! | [`pool_map_function_square`] | seed 004 | `Pool(processes=4).map`, `close`, `join` |
//! | [`pool_imap_unordered_progress`] | (beyond the seeds) | `imap_unordered` over a long job with a progress bar |
//! | [`pool_worker_killed`] | (what CPython gets wrong) | a worker killed mid-task: `WorkerLost` for that task, the pool goes on (CPython hangs) |
//! | [`lock_holder_killed`] | (what CPython gets wrong) | a lock holder killed: the next acquirer gets `OwnerDied` (CPython deadlocks) |
//! | [`wrong_authkey_refused`] | (what CPython gets wrong) | a client with the wrong authkey: refused on both sides, the server goes on (CPython's `accept` raises) |
//! | [`mixed_python_rust`] | (beyond the seeds) | a stdlib Python program feeds a Rust `Pool` through an mp manager's queues |
//!
//! Each module opens with the key lines of its Python original and what
//! differs. Where the original never ends (a consumer's `while True`) or
//! printed a wrong result (a shared counter left at 0), the port ends
//! cleanly and prints the right one.
//!
//! # Example
//!
//! ```
//! # fn main() -> mp_examples::Result {
//! mp_examples::pipe_sender_receiver::main()?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cpu_count_workers;
pub mod daemon_processes;
pub mod lock_holder_killed;
pub mod manager_records;
pub mod mixed_python_rust;
pub mod pipe_chain_eof;
pub mod pipe_sender_receiver;
pub mod pool_imap_unordered_progress;
pub mod pool_map_cube;
pub mod pool_map_function_square;
pub mod pool_map_square;
pub mod pool_worker_killed;
pub mod producer_consumer_classes;
pub mod queue_producer_consumer;
pub mod queue_square_list;
pub mod queue_square_negative;
pub mod server_process_records;
pub mod shared_array_lock;
pub mod shared_array_value_add_sum;
pub mod shared_array_value_square_list;
pub mod shared_value_lock;
pub mod simple_processes;
pub mod tasks_with_pids;
pub mod threads_vs_processes;
pub mod wrong_authkey_refused;

/// What every program's `main` returns.
pub type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// One ported program: its name (module and binary), where it comes from,
/// and its `main`.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    /// The module and binary name.
    pub name: &'static str,
    /// The seed tutorial and section it ports.
    pub origin: &'static str,
    /// Runs the program.
    pub main: fn() -> Result,
}

/// Every program, in the order of the seed tutorials.
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "simple_processes",
        origin: "seed 000, \"1. Simple Multiprocessing\"",
        main: simple_processes::main,
    },
    Program {
        name: "shared_array_value_add_sum",
        origin: "seed 000, \"2. Sharing data with global process\"",
        main: shared_array_value_add_sum::main,
    },
    Program {
        name: "server_process_records",
        origin: "seed 000, \"3. Mutli-processing through Server Process\"",
        main: server_process_records::main,
    },
    Program {
        name: "queue_square_list",
        origin: "seed 000, \"4. Queue Example\" (and seed 002, \"Solution 3\")",
        main: queue_square_list::main,
    },
    Program {
        name: "cpu_count_workers",
        origin: "seed 001, processes = [...] for os.cpu_count()",
        main: cpu_count_workers::main,
    },
    Program {
        name: "shared_value_lock",
        origin: "seed 001, \"Shared value\"",
        main: shared_value_lock::main,
    },
    Program {
        name: "shared_array_lock",
        origin: "seed 001, \"Shared array\"",
        main: shared_array_lock::main,
    },
    Program {
        name: "queue_square_negative",
        origin: "seed 001, \"Queues\"",
        main: queue_square_negative::main,
    },
    Program {
        name: "pool_map_cube",
        origin: "seed 001, \"Pool\"",
        main: pool_map_cube::main,
    },
    Program {
        name: "shared_array_value_square_list",
        origin: "seed 002, \"Solution 1: Shared memory\"",
        main: shared_array_value_square_list::main,
    },
    Program {
        name: "manager_records",
        origin: "seed 002, \"Solution 2: Server process\"",
        main: manager_records::main,
    },
    Program {
        name: "pipe_sender_receiver",
        origin: "seed 002, \"Solution 4: Pipes\"",
        main: pipe_sender_receiver::main,
    },
    Program {
        name: "threads_vs_processes",
        origin: "seed 003, \"Multi-threading vs Multi-processing\"",
        main: threads_vs_processes::main,
    },
    Program {
        name: "tasks_with_pids",
        origin: "seed 003, \"Another multiprocessing example\"",
        main: tasks_with_pids::main,
    },
    Program {
        name: "pool_map_square",
        origin: "seed 003, \"Using a Pool of Processes\"",
        main: pool_map_square::main,
    },
    Program {
        name: "queue_producer_consumer",
        origin: "seed 003, \"Sharing data using a queue\"",
        main: queue_producer_consumer::main,
    },
    Program {
        name: "daemon_processes",
        origin: "seed 004, daemon and non-daemon processes",
        main: daemon_processes::main,
    },
    Program {
        name: "producer_consumer_classes",
        origin: "seed 004, \"# Queue\" (Process subclasses)",
        main: producer_consumer_classes::main,
    },
    Program {
        name: "pipe_chain_eof",
        origin: "seed 004, \"# Pipes\"",
        main: pipe_chain_eof::main,
    },
    Program {
        name: "pool_map_function_square",
        origin: "seed 004, \"# Process Pool\"",
        main: pool_map_function_square::main,
    },
    Program {
        name: "pool_imap_unordered_progress",
        origin: "beyond the seeds: imap_unordered with a progress bar",
        main: pool_imap_unordered_progress::main,
    },
    Program {
        name: "pool_worker_killed",
        origin: "what CPython gets wrong: a pool worker killed mid-task",
        main: pool_worker_killed::main,
    },
    Program {
        name: "lock_holder_killed",
        origin: "what CPython gets wrong: a lock holder killed",
        main: lock_holder_killed::main,
    },
    Program {
        name: "wrong_authkey_refused",
        origin: "what CPython gets wrong: a client with the wrong authkey",
        main: wrong_authkey_refused::main,
    },
    Program {
        name: "mixed_python_rust",
        origin: "beyond the seeds: a Python program feeding a Rust pool",
        main: mixed_python_rust::main,
    },
];
