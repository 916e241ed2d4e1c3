//! Placeholder: filled by the manager issue.
fn main() {}
