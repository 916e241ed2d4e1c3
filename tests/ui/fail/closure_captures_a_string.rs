// A target closure that captures a non-`Copy` value: a type error under
// `cargo check`, with the `Target` message.
fn main() {
    let name = String::from("bob");
    let _p = mp::Process::new(move || println!("hello {name}"), ());
}
