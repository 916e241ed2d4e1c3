//! See [`mp_examples::shared_array_lock`].
fn main() -> mp_examples::Result {
    mp_examples::shared_array_lock::main()
}
