//! The facade's tests: its re-exports, the compile errors its users see,
//! and the examples its docs render.

mod compile_errors;
mod doc_examples;
mod subcrates;
