//! See [`mp_examples::daemon_processes`].
fn main() -> mp_examples::Result {
    mp_examples::daemon_processes::main()
}
