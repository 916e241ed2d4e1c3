//! The facade's tests: its re-exports, and the compile errors its users see.

mod compile_errors;
mod subcrates;
