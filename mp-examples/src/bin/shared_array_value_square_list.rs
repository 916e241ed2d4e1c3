//! See [`mp_examples::shared_array_value_square_list`].
fn main() -> mp_examples::Result {
    mp_examples::shared_array_value_square_list::main()
}
