//! See [`mp_examples::pool_map_square`].
fn main() -> mp_examples::Result {
    mp_examples::pool_map_square::main()
}
