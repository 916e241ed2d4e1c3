//! See [`mp_examples::lock_holder_killed`].
fn main() -> mp_examples::Result {
    mp_examples::lock_holder_killed::main()
}
