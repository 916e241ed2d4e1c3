//! See [`mp_examples::queue_square_list`].
fn main() -> mp_examples::Result {
    mp_examples::queue_square_list::main()
}
