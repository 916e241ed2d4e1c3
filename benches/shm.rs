//! Placeholder: filled by the shm issue.
fn main() {}
