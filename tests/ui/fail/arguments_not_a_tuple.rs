// Arguments are a tuple, as Python's `args=(x,)`.
fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    let pool = mp::Pool::new(2).unwrap();
    let _ = pool.apply(square, 3u64);
}
