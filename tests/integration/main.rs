//! The facade's tests: its re-exports, and the examples its docs render.

mod doc_examples;
mod subcrates;
