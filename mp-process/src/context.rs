//! Choosing a start method: the process default (Python's
//! `set_start_method`) and contexts (Python's `get_context`).

use serde::Serialize;

use crate::current;
use crate::error::{Error, Result};
use crate::join_handle::JoinHandle;
use crate::method::StartMethod;
use crate::process::Process;
use crate::target::{Args, Run, Target};

/// Sets the default start method of this process (Python's
/// `set_start_method`). Children inherit it as their default.
///
/// Like Python, setting it a second time to a different method is an error;
/// use [`set_start_method_force`] to override.
pub fn set_start_method(method: StartMethod) -> Result<()> {
    current::with(|c| {
        if c.method_set && c.method != method {
            return Err(Error::StartMethodAlreadySet(c.method));
        }
        c.method = method;
        c.method_set = true;
        Ok(())
    })
}

/// Sets the default start method even if it was set before (Python's
/// `set_start_method(m, force=True)`).
pub fn set_start_method_force(method: StartMethod) {
    current::with(|c| {
        c.method = method;
        c.method_set = true;
    })
}

/// The default start method of this process (Python's `get_start_method`).
///
/// In a child it is the method the child was started with, as in CPython
/// (a child started by a `Spawn` context reports `Spawn`, whatever its
/// parent's default).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(process), "::{Context, StartMethod, get_start_method};")]
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// for method in StartMethod::ALL {
///     let in_child = Context::new(method).spawn(get_start_method, ())?.join()?;
///     assert_eq!(in_child, method);
/// }
/// # Ok(())
/// # }
/// ```
pub fn get_start_method() -> StartMethod {
    current::default_method()
}

/// The start methods available on this platform.
pub fn get_all_start_methods() -> [StartMethod; 3] {
    StartMethod::ALL
}

/// A start method to create processes with, without changing the default
/// (Python's `get_context(method)`).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(process), "::{Context, StartMethod};")]
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = Context::new(StartMethod::Spawn);
/// assert_eq!(ctx.spawn(double, (21,))?.join()?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

/// A context for `method`, or for the current default with `None`.
pub fn get_context(method: Option<StartMethod>) -> Context {
    Context {
        method: method.unwrap_or_else(get_start_method),
    }
}

impl Context {
    /// A context that starts processes with `method`.
    pub fn new(method: StartMethod) -> Context {
        Context { method }
    }

    /// This context's start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// [`Process::new`] with this context's start method.
    pub fn process<F: Target<A>, A: Args>(&self, target: F, args: A) -> Process {
        Process::new(target, args).start_method(self.method)
    }

    /// [`Process::from_run`] with this context's start method.
    pub fn process_from_run<T: Run>(&self, body: T) -> Process {
        Process::from_run(body).start_method(self.method)
    }

    /// [`spawn`](crate::spawn) with this context's start method.
    pub fn spawn<F, A>(&self, target: F, args: A) -> Result<JoinHandle<F::Output>>
    where
        F: Target<A>,
        F::Output: Serialize + serde::de::DeserializeOwned,
        A: Args,
    {
        JoinHandle::start(target, args, Some(self.method))
    }
}
