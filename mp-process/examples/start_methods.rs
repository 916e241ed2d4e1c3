//! A plain `fn main` that starts a child under every start method: no
//! `init()` call, no special `main`. Run with
//! `cargo run -p mp-process --example start_methods`.

use mp_process::{Process, StartMethod, current_process};

fn greet(method: String) {
    let me = current_process();
    println!("hello from {} (pid {}) via {method}", me.name(), me.pid());
}

fn main() -> Result<(), mp_process::Error> {
    for method in StartMethod::ALL {
        let mut p = Process::new(greet, (method.to_string(),)).start_method(method);
        p.start()?;
        let code = p.join()?;
        println!("{} exited with {code}", p.get_name());
    }
    Ok(())
}
