//! `spawn` and `JoinHandle`: a child process whose `join` returns the
//! function's value, like `std::thread::spawn` across processes.

use std::marker::PhantomData;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mp_pipe::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{JoinError, Result};
use crate::method::StartMethod;
use crate::payload::{Call, Outcome, Returning};
use crate::process::Process;
use crate::sys;
use crate::target::{Args, Target};

/// Runs `target(args...)` in a new child process (default start method)
/// and returns a handle whose [`join`](JoinHandle::join) gives back the
/// function's return value, like `std::thread::spawn` across processes.
///
/// ```
/// fn cube(n: u64) -> u64 {
///     n * n * n
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
#[doc = concat!("let handle = ", crate::mp_crate!(process), "::spawn(cube, (3,))?;")]
/// assert_eq!(handle.join()?, 27);
/// # Ok(())
/// # }
/// ```
pub fn spawn<F, A>(target: F, args: A) -> Result<JoinHandle<F::Output>>
where
    F: Target<A>,
    F::Output: Serialize + DeserializeOwned,
    A: Args,
{
    JoinHandle::start(target, args, None)
}

/// A child started by [`spawn`]: join it for its return value.
///
/// A panic in the child is [`JoinError::Panicked`] with the message; a
/// child that died (signal, `exit`) is [`JoinError::Died`] with its exit code.
pub struct JoinHandle<R> {
    process: Process,
    result: Connection,
    /// A value received by a `join_timeout` that then timed out waiting
    /// for the exit.
    pending: Option<Result<R, JoinError>>,
    joined: bool,
    _result: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> JoinHandle<R> {
    pub(crate) fn start<F, A>(
        target: F,
        args: A,
        method: Option<StartMethod>,
    ) -> Result<JoinHandle<R>>
    where
        F: Target<A, Output = R>,
        R: Serialize,
        A: Args,
    {
        let () = mp_internal::CapturesNothing::<F>::CHECK;
        let (ours, theirs) = sys::socket_pair()?;
        let mut process = Process::with_payload(Box::new(Returning(Call { f: target, args })));
        if let Some(method) = method {
            process = process.start_method(method);
        }
        process.result = Some(theirs);
        process.start()?;
        Ok(JoinHandle {
            process,
            result: Connection::from(UnixStream::from(ours)),
            pending: None,
            joined: false,
            _result: PhantomData,
        })
    }

    /// Waits for the child and returns what the function returned.
    pub fn join(mut self) -> Result<R, JoinError> {
        self.join_until(None)
    }

    /// Like [`join`](JoinHandle::join), giving up after `timeout` with
    /// [`JoinError::Timeout`]; the handle can then be joined again.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<R, JoinError> {
        self.join_until(Instant::now().checked_add(timeout))
    }

    /// The child as a [`Process`] (pid, terminate, kill, ...).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Whether the child has ended.
    pub fn is_finished(&self) -> bool {
        self.process.exitcode().is_some()
    }

    fn join_until(&mut self, deadline: Option<Instant>) -> Result<R, JoinError> {
        if self.joined {
            return Err(JoinError::AlreadyJoined);
        }
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let outcome = match self.pending.take() {
            Some(outcome) => outcome,
            None => {
                let received = match left() {
                    None => self.result.recv::<Outcome<R>>(),
                    Some(left) => self.result.recv_timeout::<Outcome<R>>(left),
                };
                match received {
                    Ok(Outcome::Returned(value)) => Ok(value),
                    Ok(Outcome::Panicked(message)) => Err(JoinError::Panicked(message)),
                    Ok(Outcome::Failed(message)) => Err(JoinError::Failed(message)),
                    Err(mp_pipe::Error::Timeout) => return Err(JoinError::Timeout),
                    Err(mp_pipe::Error::Eof | mp_pipe::Error::Truncated) => {
                        // It died without a word: its exit code says how.
                        let exitcode = match left() {
                            None => self.process.join()?,
                            Some(left) => {
                                self.process.join_timeout(left)?.ok_or(JoinError::Timeout)?
                            }
                        };
                        self.joined = true;
                        return Err(JoinError::Died { exitcode });
                    }
                    Err(e @ mp_pipe::Error::Decode(_)) => Err(JoinError::Decode(e)),
                    Err(e) => Err(JoinError::Process(e.into())),
                }
            }
        };
        // Reap the child before handing the value over.
        let exited = match left() {
            None => Some(self.process.join()?),
            Some(left) => self.process.join_timeout(left)?,
        };
        if exited.is_none() {
            self.pending = Some(outcome);
            return Err(JoinError::Timeout);
        }
        self.joined = true;
        outcome
    }
}

impl<R> std::fmt::Debug for JoinHandle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("process", &self.process)
            .finish()
    }
}
