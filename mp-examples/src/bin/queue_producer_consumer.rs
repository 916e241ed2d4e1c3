//! See [`mp_examples::queue_producer_consumer`].
fn main() -> mp_examples::Result {
    mp_examples::queue_producer_consumer::main()
}
