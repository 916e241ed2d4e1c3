//! See [`mp_examples::pool_map_cube`].
fn main() -> mp_examples::Result {
    mp_examples::pool_map_cube::main()
}
