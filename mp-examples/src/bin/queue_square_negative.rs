//! See [`mp_examples::queue_square_negative`].
fn main() -> mp_examples::Result {
    mp_examples::queue_square_negative::main()
}
