//! What a child process runs: a plain function (or non-capturing closure)
//! applied to a tuple of serde arguments, or a value with a `run` method.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A function a child process can run with arguments `Args` (a tuple, like
/// Python's `args=(a, b)`).
///
/// Implemented for every `Fn(A1, .., An) -> R` with up to 12 arguments
/// that is `Copy`, `Send` and `'static`, and for nothing else (the trait is
/// sealed). [`Process::new`](crate::Process::new), [`spawn`](crate::spawn)
/// and [`RemoteFn::new`](crate::RemoteFn::new) additionally require the
/// function to be zero-sized: a `fn` item or a closure that captures
/// nothing, so the child can find it in its own copy of the binary under
/// every start method. A capturing closure needs
/// [`Process::from_closure`](crate::Process::from_closure) and the `Fork`
/// start method.
///
/// When the compiler says so: a closure that captures a non-`Copy` value
/// (a `String`), or a non-function, is a type error ("cannot be a process
/// target"), shown by `cargo check` and editors. A closure that captures
/// only `Copy` values (a number) passes every trait bound, since no
/// stable trait says "zero-sized"; it is refused when the program is
/// built, with one error, "a process target must capture nothing".
///
/// # Why these bounds
///
/// A re-executed or forkserver child, and a process that calls a
/// `RemoteFn` it received, gets the function's *type*, not a value, and
/// makes the value back out of nothing. That is sound only for a value
/// that carries nothing beyond its type: a `fn` item, or a closure that
/// captures nothing. Zero size leaves one way to carry something, a
/// zero-sized capture, and the bounds shut what they can of it:
///
/// - `Copy`: a unique token or a guard (a value with a `Drop`) is never
///   `Copy`, so none is duplicated or dropped without having been made;
/// - `'static`: a branded token (`GhostToken<'id>`) carries its brand as a
///   lifetime;
/// - `Send`: a token tied to its thread stays there;
/// - sealed: no type of another crate (a unit struct whose value proves
///   something) can be made a `Target` by an impl.
///
/// ```compile_fail,E0277
/// // A closure holding a unique token is refused: it is not `Copy`.
/// struct Token;
/// let token = Token;
/// let p = mp_process::Process::new(move || drop(&token), ());
/// ```
///
/// ```compile_fail,E0277
/// // Only functions are targets: the trait is sealed.
/// #[derive(Clone, Copy)]
/// struct Proof;
/// impl mp_process::Target<u8> for Proof {
///     type Output = ();
///     fn call(&self, _: u8) {}
/// }
/// ```
///
/// What no bound can tell apart on stable Rust: a closure that captures a
/// zero-sized, `Copy`, `Send`, `'static` value whose existence certifies
/// something about the process that made it (that some initialisation ran
/// *there*) would be made in a child where that never happened. No trait
/// is implemented only by non-capturing closures and `fn` items, and the
/// coercion to a `fn` pointer that tells them apart needs the concrete
/// type, which generic code never has. Capture nothing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a process target called with arguments `{Args}`",
    label = "not a function (or non-capturing closure) taking `{Args}`",
    note = "a target is a `fn` item or a closure that captures nothing (`Copy + Send + 'static`); \
            the arguments are a tuple matching its parameters: `()`, `(a,)`, `(a, b)`, ...",
    note = "pass what a closure would capture as arguments instead (`Process::new(f, (x,))`), \
            or start a capturing closure with `Process::from_closure` (Fork start method only)"
)]
pub trait Target<Args>: sealed::Sealed<Args> + Copy + Send + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function with the arguments unpacked.
    fn call(&self, args: Args) -> Self::Output;
}

/// Arguments that can cross a process boundary: serde values that own their
/// data. OS-handle objects (`Connection`, `Queue`, `Value`, ...) qualify.
///
/// A borrowed argument (`&str`, `&[u8]`, a struct with a lifetime) is
/// refused: the child gets a copy, not a reference into this process. The
/// compiler says so as "implementation of `Deserialize` is not general
/// enough" (a lifetime error, which no library can reword); the fix is an
/// owned type such as `String` or `Vec<u8>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the arguments of a process or task",
    label = "arguments cross a process boundary",
    note = "arguments are a tuple (`()`, `(a,)`, `(a, b)`, ...) of owned serde values: \
            `#[derive(Serialize, Deserialize)]` (from `mp::serde`) on your types, \
            and owned types such as `String`, not `&str`",
    note = "`Send + 'static` too: no `Rc`, no references"
)]
pub trait Args: Serialize + DeserializeOwned + Send + 'static {}

// Not recommended: a failed bound is reported as `Args` (with the note
// above), not as the serde trait some element misses.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Args for T {}

mod sealed {
    /// Only the functions `impl_target!` names are targets.
    pub trait Sealed<Args> {}
}

macro_rules! impl_target {
    ($($arg:ident),*) => {
        impl<Func, Ret, $($arg),*> sealed::Sealed<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Ret + Copy + Send + 'static,
        {}

        // Not recommended: a closure that captures a non-`Copy` value is
        // reported as not a `Target` (with the notes above), not as a
        // missing `Copy` deep inside.
        #[diagnostic::do_not_recommend]
        impl<Func, Ret, $($arg),*> Target<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Ret + Copy + Send + 'static,
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
#[doc = concat!("use ", crate::mp_crate!(process), "::{Process, Run};")]
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Greeter {
///     greeting: String,
/// }
///
/// impl Run for Greeter {
///     fn run(self) {
#[doc = concat!("        println!(\"{} from {}\", self.greeting, ", crate::mp_crate!(process), "::current_process().name());")]
///     }
/// }
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(process), "::Error> {")]
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
