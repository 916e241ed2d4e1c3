//! The server's initializer (Python's `BaseManager.start(initializer,
//! initargs)`): a function and its arguments, sent to the server process
//! as data and run there before it serves.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mp_internal::codec::from_bytes_exact;
use mp_internal::panic_message;
use mp_process::{Args, RemoteFn, Target};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Runs a typed initializer from its encoded reference and arguments.
type Runner = RemoteFn<(Vec<u8>, Vec<u8>), std::result::Result<(), String>>;

/// A `fn` and its arguments, as the server process receives them (the
/// function travels as a reference into the same program, which works
/// under every start method).
#[derive(Serialize, Deserialize)]
pub(crate) struct Initializer {
    runner: Runner,
    #[serde(with = "serde_bytes")]
    func: Vec<u8>,
    #[serde(with = "serde_bytes")]
    args: Vec<u8>,
}

impl Initializer {
    pub(crate) fn new<F, A>(f: F, args: &A) -> Result<Initializer>
    where
        F: Target<A, Output = ()>,
        A: Args,
    {
        let encode = |e: postcard::Error| Error::Encode(format!("the initializer: {e}"));
        Ok(Initializer {
            runner: RemoteFn::new(run::<A>),
            func: postcard::to_allocvec(&RemoteFn::new(f)).map_err(encode)?,
            args: postcard::to_allocvec(args).map_err(encode)?,
        })
    }

    /// Runs it here; a panic (or arguments that do not decode) is the
    /// message returned.
    pub(crate) fn run(self) -> std::result::Result<(), String> {
        self.runner.call((self.func, self.args))
    }
}

fn run<A: Args>(func: Vec<u8>, args: Vec<u8>) -> std::result::Result<(), String> {
    let f: RemoteFn<A, ()> = from_bytes_exact(&func)
        .map_err(|e| format!("the initializer reference did not decode: {e}"))?;
    let args: A = from_bytes_exact(&args)
        .map_err(|e| format!("the initializer's arguments did not decode: {e}"))?;
    catch_unwind(AssertUnwindSafe(|| f.call(args))).map_err(|p| panic_message(&*p))
}
