//! See [`mp_examples::cpu_count_workers`].
fn main() -> mp_examples::Result {
    mp_examples::cpu_count_workers::main()
}
