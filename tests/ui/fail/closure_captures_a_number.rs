// A target closure that captures a `Copy` value: no trait bound can see
// it (no stable trait says "zero-sized"), so it is refused when the
// program is built, with one error that says what to do.
fn main() {
    let times = 3u32;
    let _p = mp::Process::new(move || println!("{times}"), ());
}
