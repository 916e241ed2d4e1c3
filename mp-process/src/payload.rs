//! A process body in the two shapes the start methods need: runnable in
//! place (fork), or encoded as an entry point plus bytes (spawn, forkserver).

use std::any::Any;
use std::os::fd::{OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mp_pipe::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sys::code;
use crate::target::{Args, Run, Target};

/// What a re-executed or forkserver child calls: decode the body from its
/// bytes and handles, run it, and return the exit code.
pub(crate) type EntryFn = fn(EntryArgs) -> i32;

/// The arguments of an [`EntryFn`].
pub(crate) struct EntryArgs {
    /// The encoded body.
    pub(crate) bytes: Vec<u8>,
    /// The descriptors that travelled with it.
    pub(crate) fds: Vec<OwnedFd>,
    /// Where a `JoinHandle`'s result goes.
    pub(crate) result: Option<Connection>,
}

/// A body encoded for another process.
pub(crate) struct Encoded {
    pub(crate) entry: EntryFn,
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

pub(crate) trait Payload: Send + 'static {
    /// Encodes the body for spawn and forkserver children.
    fn encode(&self) -> Result<Encoded, Error>;

    /// Runs the body in this process (a forked child) and returns the exit
    /// code. `result` is the channel of a `JoinHandle`.
    fn run(self: Box<Self>, result: Option<Connection>) -> i32;

    /// The descriptors the body holds, or `None` if they cannot be known
    /// (a closure's captures): a forked child keeps these and lets go of
    /// every other mp socket it inherited.
    fn raw_fds(&self) -> Option<Vec<RawFd>>;
}

/// Bodies that can be rebuilt from their encoding in the child.
trait Decode: Payload + Sized {
    fn decode(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Self, mp_handle::Error>;
}

fn entry<P: Decode>(args: EntryArgs) -> i32 {
    let EntryArgs { bytes, fds, result } = args;
    match P::decode(&bytes, fds) {
        Ok(payload) => Box::new(payload).run(result),
        Err(e) => {
            let message = format!("the child could not decode its arguments: {e}");
            eprintln!("mp: {message}");
            if let Some(channel) = result {
                // The parent learns why; if it has gone, there is no one to tell.
                let _ = channel.send(&Outcome::<()>::Failed(message));
            }
            1
        }
    }
}

fn encode_with<P: Decode, T: Serialize + ?Sized>(value: &T) -> Result<Encoded, Error> {
    let (bytes, fds) = mp_handle::encode(value).map_err(Error::Encode)?;
    Ok(Encoded {
        entry: entry::<P>,
        bytes,
        fds,
    })
}

/// How a `JoinHandle`'s child ended, as the child reports it.
#[derive(Serialize, Deserialize)]
pub(crate) enum Outcome<R> {
    Returned(R),
    Panicked(String),
    Failed(String),
}

/// `f(args)`, result discarded: the body of a `Process`.
pub(crate) struct Call<F, A> {
    pub(crate) f: F,
    pub(crate) args: A,
}

impl<F: Target<A>, A: Args> Payload for Call<F, A> {
    fn encode(&self) -> Result<Encoded, Error> {
        encode_with::<Self, A>(&self.args)
    }

    fn run(self: Box<Self>, _result: Option<Connection>) -> i32 {
        let Call { f, args } = *self;
        exit_code(catch_unwind(AssertUnwindSafe(|| f.call(args))))
    }

    fn raw_fds(&self) -> Option<Vec<RawFd>> {
        Some(mp_handle::raw_fds(&self.args))
    }
}

impl<F: Target<A>, A: Args> Decode for Call<F, A> {
    fn decode(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Self, mp_handle::Error> {
        let f = code::conjure::<A, F>();
        Ok(Call {
            f,
            args: mp_handle::decode(bytes, fds)?,
        })
    }
}

/// `f(args)` with the result sent back: the body of a `JoinHandle`.
pub(crate) struct Returning<F, A>(pub(crate) Call<F, A>);

impl<F, A> Payload for Returning<F, A>
where
    F: Target<A>,
    F::Output: Serialize,
    A: Args,
{
    fn encode(&self) -> Result<Encoded, Error> {
        encode_with::<Self, A>(&self.0.args)
    }

    fn run(self: Box<Self>, result: Option<Connection>) -> i32 {
        let Call { f, args } = self.0;
        let outcome = catch_unwind(AssertUnwindSafe(|| f.call(args)));
        let code = i32::from(outcome.is_err());
        let report = match outcome {
            Ok(value) => Outcome::Returned(value),
            Err(panic) => Outcome::Panicked(mp_internal::panic_message(&*panic)),
        };
        let Some(channel) = result else { return code };
        match channel.send(&report) {
            Ok(()) => code,
            Err(mp_pipe::Error::Encode(e)) => {
                let message = format!("the return value could not be encoded: {e}");
                eprintln!("mp: {message}");
                let _ = channel.send(&Outcome::<()>::Failed(message));
                1
            }
            // The parent dropped its handle: nobody wants the value.
            Err(_) => code,
        }
    }

    fn raw_fds(&self) -> Option<Vec<RawFd>> {
        self.0.raw_fds()
    }
}

impl<F, A> Decode for Returning<F, A>
where
    F: Target<A>,
    F::Output: Serialize,
    A: Args,
{
    fn decode(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Self, mp_handle::Error> {
        Call::<F, A>::decode(bytes, fds).map(Returning)
    }
}

/// A value whose `run` is the body (a Python `Process` subclass).
pub(crate) struct RunValue<T>(pub(crate) T);

impl<T: Run> Payload for RunValue<T> {
    fn encode(&self) -> Result<Encoded, Error> {
        encode_with::<Self, T>(&self.0)
    }

    fn run(self: Box<Self>, _result: Option<Connection>) -> i32 {
        let value = self.0;
        exit_code(catch_unwind(AssertUnwindSafe(|| value.run())))
    }

    fn raw_fds(&self) -> Option<Vec<RawFd>> {
        Some(mp_handle::raw_fds(&self.0))
    }
}

impl<T: Run> Decode for RunValue<T> {
    fn decode(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Self, mp_handle::Error> {
        mp_handle::decode(bytes, fds).map(RunValue)
    }
}

/// A capturing closure: it can only run in a forked copy of this process.
pub(crate) struct Closure<C>(pub(crate) C);

impl<C: FnOnce() + Send + 'static> Payload for Closure<C> {
    fn encode(&self) -> Result<Encoded, Error> {
        Err(Error::ClosureNeedsFork)
    }

    fn run(self: Box<Self>, _result: Option<Connection>) -> i32 {
        let f = self.0;
        exit_code(catch_unwind(AssertUnwindSafe(f)))
    }

    fn raw_fds(&self) -> Option<Vec<RawFd>> {
        None
    }
}

/// Python's exit codes: 0 when the body returns, 1 when it panics (the panic
/// hook has already printed the message on stderr).
fn exit_code<T>(outcome: Result<T, Box<dyn Any + Send>>) -> i32 {
    i32::from(outcome.is_err())
}
