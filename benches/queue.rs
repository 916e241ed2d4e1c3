//! Placeholder: filled by the queue issue.
fn main() {}
