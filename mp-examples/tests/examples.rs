//! Runs every example binary and checks the lines that show it works, so an
//! example cannot rot. Each run has a time limit; a hung example is killed
//! and fails its test.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one example may take (they take well under a second each on
/// an idle machine; this is for a busy one).
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `exe` to completion within [`LIMIT`] and returns its stdout; fails
/// the test on a timeout, a non-zero exit, or anything on stderr that is
/// not expected.
fn run(exe: &str) -> String {
    let mut child = Command::new(exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {exe}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{exe} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap().unwrap();
    let err = err.join().unwrap().unwrap();
    assert!(
        status.success(),
        "{exe} exited with {status}\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    assert!(err.is_empty(), "{exe} wrote to stderr:\n{err}");
    out
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().map(str::trim_end).collect()
}

/// Asserts that each of `expected` is a line of `out`.
fn has_lines(out: &str, expected: &[&str]) {
    let lines = lines(out);
    for line in expected {
        assert!(lines.contains(line), "missing line {line:?} in:\n{out}");
    }
}

/// Asserts that `expected` appear in this order (other lines may come
/// between them).
fn has_lines_in_order(out: &str, expected: &[&str]) {
    let lines = lines(out);
    let mut at = 0;
    for line in expected {
        match lines[at..].iter().position(|l| l == line) {
            Some(i) => at += i + 1,
            None => panic!("missing line {line:?} (in this order) in:\n{out}"),
        }
    }
}

fn pid_of(out: &str, prefix: &str) -> u32 {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"));
    line.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{line:?} is not a pid: {e}"))
}

#[test]
fn simple_processes_print_in_their_own_processes() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_simple_processes"));
    has_lines(&out, &["cool cool it is", "rule ok it is"]);
    let pids: Vec<u32> = out
        .lines()
        .filter_map(|l| l.strip_prefix("process id "))
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{out}");
    assert_ne!(pids[0], pids[1]);
    assert_eq!(out.matches("alive ? ").count(), 2, "{out}");
}

#[test]
fn shared_array_value_add_sum_prints_the_sum() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_shared_array_value_add_sum"));
    has_lines(&out, &[" the sum 20, and the array [0, 2, 6, 12]"]);
}

#[test]
fn server_process_records_prints_three_records() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_server_process_records"));
    has_lines_in_order(
        &out,
        &[
            "name : cool, score : 21",
            "name : real, score : 23",
            "name : chow, score : 45",
        ],
    );
}

#[test]
fn queue_square_list_prints_every_square() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_queue_square_list"));
    has_lines_in_order(
        &out,
        &[
            "Queue elements:",
            "1",
            "4",
            "9",
            "16",
            "Queue is now empty!",
        ],
    );
}

#[test]
fn cpu_count_workers_start_one_process_per_cpu() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_cpu_count_workers"));
    let n = mp_process::cpu_count();
    let codes = vec!["0"; n].join(", ");
    has_lines(
        &out,
        &[
            &format!("Starting {n} processes (one per CPU)"),
            &format!("All {n} processes joined, exit codes [{codes}]"),
        ],
    );
}

#[test]
fn shared_value_lock_counts_to_200() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_shared_value_lock"));
    has_lines_in_order(
        &out,
        &[
            "Number at beginning is:  0",
            "Number at the end is:  200",
            "(the tutorial's Python run printed 0 here: its children's work was lost)",
        ],
    );
}

#[test]
fn pool_worker_killed_loses_one_task_and_goes_on() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pool_worker_killed"));
    has_lines_in_order(
        &out,
        &[
            "square(2) = 4",
            "square(3) failed: the worker running the task died (killed by signal 9)",
            "square(7) = 49",
            "1 task lost with its worker, 7 results delivered",
            "the pool still works: [0, 1, 4, 9]",
        ],
    );
}

#[test]
fn lock_holder_killed_recovers_the_lock_with_owner_died() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_lock_holder_killed"));
    has_lines_in_order(
        &out,
        &[
            "the child is holding the lock",
            "child killed, exit code -9",
            "lock recovered with OwnerDied: the holder died holding it; counter = 1",
        ],
    );
}

#[test]
fn wrong_authkey_is_refused_on_both_sides_and_the_server_goes_on() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_wrong_authkey_refused"));
    has_lines_in_order(
        &out,
        &[
            "client with the wrong key: refused: authentication failed: \
             the server rejected our digest (different authkey)",
            "client with the right key: served: hello back",
            "the listener refused 1 peer and served 1; accept() never returned the stranger",
        ],
    );
}

#[test]
fn shared_array_lock_adds_200_to_each_element() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_shared_array_lock"));
    has_lines_in_order(
        &out,
        &[
            "Array at beginning is:  [0.0, 100.0, 200.0]",
            "Array at the end is:  [200.0, 300.0, 400.0]",
        ],
    );
}

#[test]
fn queue_square_negative_drains_both_producers_in_their_order() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_queue_square_negative"));
    has_lines_in_order(&out, &["1", "4", "9", "16", "25"]);
    has_lines_in_order(&out, &["-1", "-2", "-3", "-4", "-5"]);
    assert_eq!(out.lines().count(), 10, "{out}");
}

#[test]
fn shared_array_value_square_list_agrees_in_child_and_parent() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_shared_array_value_square_list"));
    has_lines_in_order(
        &out,
        &[
            "Result(in process p1): [1, 4, 9, 16]",
            "Sum of squares(in process p1): 30",
            "Result(in main program): [1, 4, 9, 16]",
            "Sum of squares(in main program): 30",
        ],
    );
}

#[test]
fn manager_records_prints_the_inserted_record() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_manager_records"));
    has_lines_in_order(
        &out,
        &[
            "New record added!",
            "Name: Sam",
            "Score: 10",
            "Name: Adam",
            "Name: Kevin",
            "Name: Jeff",
            "Score: 8",
        ],
    );
}

#[test]
fn pipe_sender_receiver_stops_at_end() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pipe_sender_receiver"));
    has_lines_in_order(
        &out,
        &[
            "Sent the message: hello",
            "Sent the message: hey",
            "Sent the message: hru?",
            "Sent the message: END",
        ],
    );
    has_lines_in_order(
        &out,
        &[
            "Received the message: hello",
            "Received the message: hey",
            "Received the message: hru?",
        ],
    );
    assert!(!out.contains("Received the message: END"), "{out}");
}

#[test]
fn threads_vs_processes_runs_both_workers() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_threads_vs_processes"));
    has_lines_in_order(&out, &["Worker thread", "Worker process"]);
}

#[test]
fn tasks_with_pids_run_in_two_other_processes() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_tasks_with_pids"));
    has_lines(&out, &["Processes started"]);
    let a = pid_of(&out, "Task A running in process ");
    let b = pid_of(&out, "Task B running in process ");
    assert_ne!(a, b);
}

#[test]
fn queue_producer_consumer_delivers_the_message() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_queue_producer_consumer"));
    has_lines(&out, &["Received: Hello from Producer"]);
}

#[test]
fn daemon_processes_terminate_the_daemon_and_wait_for_the_other() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_daemon_processes"));
    has_lines_in_order(
        &out,
        &[
            "Starting NO_background_process",
            "Exiting NO_background_process",
        ],
    );
    assert!(!out.contains("Exiting background_process"), "{out}");
}

#[test]
fn producer_consumer_classes_pass_ten_items_and_stop() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_producer_consumer_classes"));
    let produced: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Process Producer : item "))
        .map(|l| l.strip_suffix(" appended to queue producer-1").unwrap())
        .collect();
    let consumed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Process Consumer : item "))
        .map(|l| {
            l.trim_end()
                .strip_suffix(" popped from by consumer-2")
                .unwrap()
        })
        .collect();
    assert_eq!(produced.len(), 10, "{out}");
    assert_eq!(produced, consumed, "items arrive in order:\n{out}");
    for item in produced {
        assert!(item.parse::<u32>().unwrap() <= 256, "{out}");
    }
    assert_eq!(out.matches("The size of queue is ").count(), 10, "{out}");
}

#[test]
fn pipe_chain_eof_squares_then_ends() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pipe_chain_eof"));
    let expected: Vec<String> = (0..10u64)
        .map(|i| (i * i).to_string())
        .chain(["End".to_string()])
        .collect();
    assert_eq!(lines(&out), expected, "{out}");
}

#[test]
fn tour_runs_every_program_in_order() {
    let _d = mp_testkit::deadline(LIMIT * 3);
    let out = run(env!("CARGO_BIN_EXE_tour"));
    let total = mp_examples::PROGRAMS.len();
    let headers: Vec<String> = mp_examples::PROGRAMS
        .iter()
        .enumerate()
        .map(|(i, p)| format!("=== [{}/{total}] {} ({})", i + 1, p.name, p.origin))
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    has_lines_in_order(&out, &headers);
    has_lines(
        &out,
        &[
            "Number at the end is:  200",
            "End",
            &format!("=== all {total} programs ran"),
        ],
    );
}

#[test]
fn every_program_has_a_binary_and_a_test() {
    let _d = mp_testkit::deadline(Duration::from_secs(10));
    let bins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    let tests = include_str!("examples.rs");
    for program in mp_examples::PROGRAMS {
        assert!(
            bins.join(format!("{}.rs", program.name)).exists(),
            "no src/bin/{}.rs",
            program.name
        );
        assert!(
            tests.contains(&format!("CARGO_BIN_EXE_{}\"", program.name)),
            "no test runs {}",
            program.name
        );
    }
}

#[test]
fn pool_map_cube_prints_ten_cubes() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pool_map_cube"));
    assert_eq!(lines(&out), ["[0, 1, 8, 27, 64, 125, 216, 343, 512, 729]"]);
}

#[test]
fn pool_map_square_prints_four_squares() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pool_map_square"));
    assert_eq!(lines(&out), ["[1, 4, 9, 16]"]);
}

#[test]
fn pool_map_function_square_prints_a_hundred_squares_in_order() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pool_map_function_square"));
    let squares: Vec<String> = (0..100u64).map(|x| (x * x).to_string()).collect();
    assert_eq!(lines(&out), [format!("Pool    : [{}]", squares.join(", "))]);
}

#[test]
fn pool_imap_unordered_progress_sums_every_result() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_pool_imap_unordered_progress"));
    let total: u64 = (0..48u64).map(|x| x * x).sum();
    let lines = lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("progress: 48/48 done in "),
        "piped, the bar is a plain summary line: {out}"
    );
    assert_eq!(lines[1], format!("48 results, sum of squares {total}"));
}

#[test]
fn mixed_python_rust_feeds_a_rust_pool_from_python() {
    let _d = mp_testkit::deadline(LIMIT * 2);
    let out = run(env!("CARGO_BIN_EXE_mixed_python_rust"));
    if out.contains("SKIPPED") {
        eprintln!("\n!!!!!!!! mixed_python_rust SKIPPED: python3 is not on PATH !!!!!!!!\n");
        assert!(
            std::env::var("MP_ALLOW_SKIP_PYTHON").as_deref() == Ok("1"),
            "python3 is not on PATH: the mixed example needs it (MP_ALLOW_SKIP_PYTHON=1 skips)"
        );
        return;
    }
    has_lines_in_order(
        &out,
        &[
            "python: 2000 results from the Rust pool, all checked; longest: 1161 takes 181 steps",
            "rust: a pool of 2 workers did 2000 tasks for the Python program",
        ],
    );
}
