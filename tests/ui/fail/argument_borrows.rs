// A borrowed argument cannot cross a process boundary.
fn greet(name: &str) {
    println!("hello {name}");
}

fn main() {
    let _p = mp::Process::new(greet, ("bob",));
}
