//! mp-python's integration tests: real CPython interpreters on the other
//! end (pickles, serde values, handshakes, connections, manager shapes) and property
//! tests of the hostile-input surfaces.

mod alloc_meter;
mod connections;
mod handshakes;
mod hostile;
mod pickles;
mod py_manager;
mod python;
mod python_clients;
mod serde_values;
mod shapes;
