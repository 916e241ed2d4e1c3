//! What a child process runs: a plain function (or non-capturing closure)
//! applied to a tuple of serde arguments, or a value with a `run` method.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A function a child process can run with arguments `Args` (a tuple, like
/// Python's `args=(a, b)`).
///
/// Implemented for every `Fn(A1, .., An) -> R` with up to 12 arguments.
/// [`Process::new`](crate::Process::new) additionally requires the function
/// to be zero-sized — a `fn` item or a closure that captures nothing — so the
/// child can find it in its own copy of the binary under every start method.
/// A capturing closure needs [`Process::from_closure`](crate::Process::from_closure)
/// and the `Fork` start method.
pub trait Target<Args>: Send + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function with the arguments unpacked.
    fn call(&self, args: Args) -> Self::Output;
}

/// Arguments that can cross a process boundary: serde values that own their
/// data. OS-handle objects (`Connection`, `Queue`, `Value`, ...) qualify.
pub trait Args: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Args for T {}

macro_rules! impl_target {
    ($($arg:ident),*) => {
        impl<Func, Ret, $($arg),*> Target<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Ret + Send + 'static,
        {
            type Output = Ret;

            #[allow(non_snake_case)]
            fn call(&self, ($($arg,)*): ($($arg,)*)) -> Ret {
                self($($arg),*)
            }
        }
    };
}

impl_target!();
impl_target!(A1);
impl_target!(A1, A2);
impl_target!(A1, A2, A3);
impl_target!(A1, A2, A3, A4);
impl_target!(A1, A2, A3, A4, A5);
impl_target!(A1, A2, A3, A4, A5, A6);
impl_target!(A1, A2, A3, A4, A5, A6, A7);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);

/// A value that is its own process body, like a Python `Process` subclass
/// that overrides `run()`.
///
/// The value is serialized into the child (so its fields can be queues,
/// connections, shared values, ...), and `run` is called there.
///
/// ```
/// use mp_process::{Process, Run};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Greeter {
///     greeting: String,
/// }
///
/// impl Run for Greeter {
///     fn run(self) {
///         println!("{} from {}", self.greeting, mp_process::current_process().name());
///     }
/// }
///
/// # fn main() -> Result<(), mp_process::Error> {
/// let mut p = Process::from_run(Greeter { greeting: "hello".into() });
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok(())
/// # }
/// ```
pub trait Run: Serialize + DeserializeOwned + Send + 'static {
    /// The body of the process.
    fn run(self);
}
