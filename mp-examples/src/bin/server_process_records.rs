//! See [`mp_examples::server_process_records`].
fn main() -> mp_examples::Result {
    mp_examples::server_process_records::main()
}
