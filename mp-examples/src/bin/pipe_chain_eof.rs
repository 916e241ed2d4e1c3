//! See [`mp_examples::pipe_chain_eof`].
fn main() -> mp_examples::Result {
    mp_examples::pipe_chain_eof::main()
}
