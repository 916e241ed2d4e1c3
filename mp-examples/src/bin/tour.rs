//! Runs every ported tutorial program in order, each under a header naming
//! it and its Python original:
//!
//! ```sh
//! cargo run --release -p mp-examples --bin tour
//! ```

use std::process::ExitCode;

use mp_examples::PROGRAMS;

fn main() -> ExitCode {
    let total = PROGRAMS.len();
    let mut failed = Vec::new();
    for (i, program) in PROGRAMS.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!(
            "=== [{}/{total}] {} ({})",
            i + 1,
            program.name,
            program.origin
        );
        if let Err(e) = (program.main)() {
            eprintln!("{} failed: {e}", program.name);
            failed.push(program.name);
        }
    }
    println!();
    if failed.is_empty() {
        println!("=== all {total} programs ran");
        ExitCode::SUCCESS
    } else {
        println!(
            "=== {} of {total} programs failed: {}",
            failed.len(),
            failed.join(", ")
        );
        ExitCode::FAILURE
    }
}
