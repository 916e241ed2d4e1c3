// An argument without serde's derives: the error names `Args` as the
// user sees it and says what arguments must be.
struct Config {
    verbose: bool,
}

fn run(config: Config) {
    println!("{}", config.verbose);
}

fn main() {
    let _p = mp::Process::new(run, (Config { verbose: true },));
}
