//! See [`mp_examples::shared_value_lock`].
fn main() -> mp_examples::Result {
    mp_examples::shared_value_lock::main()
}
