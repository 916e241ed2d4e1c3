//! See [`mp_examples::pool_worker_killed`].
fn main() -> mp_examples::Result {
    mp_examples::pool_worker_killed::main()
}
