//! See [`mp_examples::simple_processes`].
fn main() -> mp_examples::Result {
    mp_examples::simple_processes::main()
}
