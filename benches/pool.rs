//! Placeholder: filled by the pool issue.
fn main() {}
