//! See [`mp_examples::mixed_python_rust`].
fn main() -> mp_examples::Result {
    mp_examples::mixed_python_rust::main()
}
