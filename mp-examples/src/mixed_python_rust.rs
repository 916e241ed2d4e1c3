//! A Python program hands its hot loop to a Rust worker pool through an mp
//! manager's queues, and reads the results back (beyond the seeds: mixing
//! Python and Rust processes).
//!
//! The Python side is `python/feed_work.py` beside this crate, standard
//! library only:
//!
//! ```python
//! WorkManager.register('get_tasks')
//! WorkManager.register('get_results')
//! manager = WorkManager(address=address, authkey=authkey)
//! manager.connect()
//! for i in range(count):
//!     tasks.put((i, 27 + i))
//! tasks.put(None)  # no more work
//! for _ in range(count):
//!     i, n, steps = results.get(timeout=60)
//! ```
//!
//! Here: an mp manager with the two queues serves mp clients and, through
//! `mp_python::PythonClients`, Python's stdlib clients; a `Pool` of Rust
//! workers takes tasks from the same queue the Python program fills. Items
//! cross as `Pickle` values: Python's `(i, n)` tuple is a Rust `(u64, u64)`.
//! Nothing the Python program sends is ever run. Without `python3` on PATH
//! the program says so and does nothing.

use std::io::Write;
use std::process::{Command, Stdio};

use mp_manager::{BaseManager, Manager, QueueProxy, ServerObject};
use mp_pool::Pool;
use mp_python::{Address, Pickle, PythonClients};

/// How many tasks the Python program sends.
const TASKS: u64 = 2000;
/// Rust workers in the pool.
const WORKERS: usize = 2;

type Task = Option<(u64, u64)>;
type Done = (u64, u64, u64);

fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// One pool worker: takes tasks until the `None` that ends them (and puts
/// it back for the other workers); returns how many it did.
fn serve_tasks(tasks: QueueProxy<Pickle<Task>>, results: QueueProxy<Pickle<Done>>) -> u64 {
    let mut done = 0;
    loop {
        match tasks.get().expect("a task").0 {
            Some((i, n)) => {
                results
                    .put(&Pickle((i, n, collatz_steps(n))))
                    .expect("a result");
                done += 1;
            }
            None => {
                tasks
                    .put(&Pickle(None::<(u64, u64)>))
                    .expect("pass the end on");
                return done;
            }
        }
    }
}

/// Runs the program.
pub fn main() -> crate::Result {
    if Command::new("python3").arg("-V").output().is_err() {
        println!(
            "!!!!!!!! SKIPPED: python3 is not on PATH, so there is no Python side to mix with !!!!!!!!"
        );
        return Ok(());
    }
    let authkey = mp_process::current_process().authkey().to_vec();
    let path = std::env::temp_dir().join(format!("mp-mixed-{}.sock", std::process::id()));
    let python = PythonClients::bind(Address::Unix(path.clone()), &authkey)?;
    let server = BaseManager::new()
        .address(Address::unique())
        .authkey(&authkey)
        .register("get_tasks", ServerObject::queue())
        .register("get_results", ServerObject::queue())
        .serve_also(move |objects| python.serve(objects))
        .get_server()?;
    let address = server.address().clone();
    std::thread::spawn(move || server.serve_forever());

    let manager = Manager::connect(&address, &authkey)?;
    let tasks: QueueProxy<Pickle<Task>> = manager.get("get_tasks")?;
    let results: QueueProxy<Pickle<Done>> = manager.get("get_results")?;
    let pool = Pool::new(WORKERS)?;
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| pool.apply_async(serve_tasks, (tasks.clone(), results.clone())))
        .collect::<Result<_, _>>()?;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/feed_work.py");
    let mut feeder = Command::new("python3")
        .arg(script)
        .arg(&path)
        .arg(TASKS.to_string())
        .stdin(Stdio::piped())
        .spawn()?;
    let hex: String = authkey.iter().map(|b| format!("{b:02x}")).collect();
    writeln!(feeder.stdin.take().expect("stdin"), "{hex}")?;
    let status = feeder.wait()?;
    let mut done = 0;
    for worker in workers {
        done += worker.get()?;
    }
    pool.close();
    pool.join()?;
    let _ = std::fs::remove_file(&path);
    if !status.success() {
        return Err(format!("the Python program failed: {status}").into());
    }
    println!("rust: a pool of {WORKERS} workers did {done} tasks for the Python program");
    Ok(())
}
