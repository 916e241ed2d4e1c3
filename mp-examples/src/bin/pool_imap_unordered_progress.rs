//! See [`mp_examples::pool_imap_unordered_progress`].
fn main() -> mp_examples::Result {
    mp_examples::pool_imap_unordered_progress::main()
}
