//! mp: Python's `multiprocessing`, rebuilt in Rust (facade; being filled in).
#![forbid(unsafe_code)]

#[doc(inline)]
pub use mp_handle as handle;
#[doc(inline)]
pub use mp_manager as manager;
#[doc(inline)]
pub use mp_pipe as pipe;
#[doc(inline)]
pub use mp_process as process;
#[doc(inline)]
pub use mp_queue as queue;
#[doc(inline)]
pub use mp_shm as shm;
