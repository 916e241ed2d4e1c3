//! See [`mp_examples::threads_vs_processes`].
fn main() -> mp_examples::Result {
    mp_examples::threads_vs_processes::main()
}
