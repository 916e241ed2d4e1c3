//! See [`mp_examples::manager_records`].
fn main() -> mp_examples::Result {
    mp_examples::manager_records::main()
}
