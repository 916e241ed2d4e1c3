//! See [`mp_examples::producer_consumer_classes`].
fn main() -> mp_examples::Result {
    mp_examples::producer_consumer_classes::main()
}
