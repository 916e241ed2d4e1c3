//! See [`mp_examples::wrong_authkey_refused`].
fn main() -> mp_examples::Result {
    mp_examples::wrong_authkey_refused::main()
}
