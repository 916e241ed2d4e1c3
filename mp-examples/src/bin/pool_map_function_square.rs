//! See [`mp_examples::pool_map_function_square`].
fn main() -> mp_examples::Result {
    mp_examples::pool_map_function_square::main()
}
