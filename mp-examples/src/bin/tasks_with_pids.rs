//! See [`mp_examples::tasks_with_pids`].
fn main() -> mp_examples::Result {
    mp_examples::tasks_with_pids::main()
}
