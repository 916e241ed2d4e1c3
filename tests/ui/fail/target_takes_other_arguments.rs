// Arguments of other types than the target's parameters.
fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    let _p = mp::Process::new(square, ("three".to_string(),));
}
