//! See [`mp_examples::pipe_sender_receiver`].
fn main() -> mp_examples::Result {
    mp_examples::pipe_sender_receiver::main()
}
