//! See [`mp_examples::shared_array_value_add_sum`].
fn main() -> mp_examples::Result {
    mp_examples::shared_array_value_add_sum::main()
}
