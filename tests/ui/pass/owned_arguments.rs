// The corrected forms of the tests/ui/fail programs compile. (A passing
// case also makes trybuild build, not only check, every case: the
// captured-number case is refused only when the program is built.)
#[derive(mp::Serialize, mp::Deserialize)]
#[serde(crate = "mp::serde")]
struct Config {
    verbose: bool,
}

fn run(config: Config) {
    println!("{}", config.verbose);
}

fn greet(name: String, times: u32) {
    for _ in 0..times {
        println!("hello {name}");
    }
}

fn main() {
    let _a = mp::Process::new(greet, ("bob".to_string(), 3));
    let _b = mp::Process::new(run, (Config { verbose: true },));
}
