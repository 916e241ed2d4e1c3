//! Every `unsafe` operation of this crate, each with the reason it holds.
//!
//! - [`atomic_copy`]: race-free copies in and out of shared memory;
//! - [`memory`]: memory maps, and typed views of process-shared state made
//!   of atomics only;
//! - [`layout`]: the `#[repr(C)]` records that live in shared memory;
//! - [`shareable`]: the [`Shareable`] contract for plain data;
//! - [`data`]: typed data regions, the guards that hand out references under
//!   a held lock, and the raw (lock-free) accessors;
//! - [`os`]: signal dispositions, the tracker's start-up hook, a
//!   fork-proof process-local mutex.
#![allow(unsafe_code)]

pub(crate) mod atomic_copy;
pub(crate) mod data;
pub(crate) mod layout;
pub(crate) mod memory;
pub(crate) mod os;
pub(crate) mod shareable;

pub use shareable::Shareable;
