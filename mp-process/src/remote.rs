//! Function references that other processes of this program can call: how
//! a pool hands different functions to long-lived workers.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sys::code::{self, CodeRef, SealedCodeRef};
use crate::target::{Args, Target};
use mp_internal::panic_message;

/// The type-erased form of a call: encoded arguments in, encoded results out.
type Erased = CodeRef<Vec<u8>, Result<Vec<u8>, CallError>>;

/// A plain function `f(A..) -> R` that any process running this program
/// can call, and that can travel to it as a serde value.
///
/// It is a reference to code already in the binary, never code itself. Its
/// encoding carries HMAC-SHA256 tags keyed with the process tree's
/// authkey ([`current_process().authkey()`](crate::current_process), which
/// children inherit) over each code offset and the `TypeId` of its
/// signature, so only processes of this tree can make one that decodes,
/// and only as the types it was made with; anything else is a decode
/// error, never a call.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(process), "::RemoteFn;")]
///
/// fn cube(n: u64) -> u64 {
///     n * n * n
/// }
///
/// let f = RemoteFn::new(cube);
/// assert_eq!(f.call((3,)), 27);
/// // What a worker does with a batch of encoded arguments:
#[doc = concat!("let (args, _no_fds) = ", crate::mp_crate!(handle), "::encode(&vec![(2u64,), (4,)]).unwrap();")]
/// let results = f.erase().call(&args).unwrap();
#[doc = concat!("assert_eq!(", crate::mp_crate!(process), "::decode_results::<u64>(&results, 2).unwrap(), [Ok(8), Ok(64)]);")]
/// ```
pub struct RemoteFn<A, R> {
    typed: CodeRef<A, R>,
    erased: Erased,
}

impl<A: Args, R: Serialize + DeserializeOwned + 'static> RemoteFn<A, R> {
    /// A reference to `f`, a `fn` item or a closure that captures nothing.
    pub fn new<F: Target<A, Output = R>>(f: F) -> RemoteFn<A, R> {
        let () = mp_internal::CapturesNothing::<F>::CHECK;
        let _ = f;
        RemoteFn {
            typed: CodeRef::new(typed_entry::<F, A, R>),
            erased: CodeRef::new(erased_entry::<F, A, R>),
        }
    }

    /// Calls the function in this process.
    pub fn call(&self, args: A) -> R {
        (self.typed.get())(args)
    }

    /// The type-erased form, for a worker that runs functions it does not
    /// know the types of.
    pub fn erase(&self) -> ErasedFn {
        ErasedFn {
            erased: self.erased,
        }
    }
}

/// A function reference without its types: encoded arguments in (a
/// postcard `Vec` of argument tuples), encoded results out (one postcard
/// `Result<R, String>` per argument, `Err` holding a panic message). Made
/// by [`RemoteFn::erase`]; travels inside a [`RemoteFn`].
#[derive(Clone, Copy)]
pub struct ErasedFn {
    erased: Erased,
}

impl ErasedFn {
    /// Runs the function on every argument tuple in `args`. A panic is that
    /// item's `Err`; the call as a whole fails only if `args` does not
    /// decode or a result does not encode.
    pub fn call(&self, args: &[u8]) -> Result<Vec<u8>, CallError> {
        (self.erased.get())(args.to_vec())
    }
}

impl fmt::Debug for ErasedFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErasedFn")
            .field("offset", &self.erased.offset())
            .finish()
    }
}

/// Why an [`ErasedFn`] call produced no results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallError {
    /// The arguments did not decode as the function's argument types.
    Decode(String),
    /// A result could not be encoded.
    Encode(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Decode(why) => write!(f, "the arguments did not decode: {why}"),
            CallError::Encode(why) => write!(f, "a result did not encode: {why}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Decodes the output of an [`ErasedFn`] call made with `n` argument tuples.
pub fn decode_results<R: DeserializeOwned>(
    bytes: &[u8],
    n: usize,
) -> Result<Vec<Result<R, String>>, CallError> {
    let mut rest = bytes;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (item, tail) = postcard::take_from_bytes::<Result<R, String>>(rest)
            .map_err(|e| CallError::Decode(e.to_string()))?;
        out.push(item);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CallError::Decode(format!(
            "{} bytes left over after {n} results of type `{}` (the results hold another type)",
            rest.len(),
            std::any::type_name::<R>()
        )));
    }
    Ok(out)
}

fn typed_entry<F: Target<A, Output = R>, A, R>(args: A) -> R {
    code::conjure::<A, F>().call(args)
}

fn erased_entry<F, A, R>(input: Vec<u8>) -> Result<Vec<u8>, CallError>
where
    F: Target<A, Output = R>,
    A: Args,
    R: Serialize,
{
    let args: Vec<A> =
        mp_handle::decode(&input, Vec::new()).map_err(|e| CallError::Decode(e.to_string()))?;
    let f = code::conjure::<A, F>();
    let mut out = Vec::with_capacity(args.len() * 8);
    for a in args {
        let result = catch_unwind(AssertUnwindSafe(|| f.call(a))).map_err(|p| panic_message(&*p));
        if let Err(e) = mp_handle::encode_into(&result, &mut out) {
            // Only this item's value failed: report it and keep the others.
            let message = format!("the result did not encode: {e}");
            mp_handle::encode_into(&Err::<(), String>(message), &mut out)
                .map_err(|e| CallError::Encode(e.to_string()))?;
        }
    }
    Ok(out)
}

#[derive(Serialize, Deserialize)]
struct Wire {
    typed: SealedCodeRef,
    erased: SealedCodeRef,
}

impl<A: Args, R: Serialize + DeserializeOwned + 'static> Serialize for RemoteFn<A, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            typed: self.typed.seal(),
            erased: self.erased.seal(),
        }
        .serialize(serializer)
    }
}

impl<'de, A: Args, R: Serialize + DeserializeOwned + 'static> Deserialize<'de> for RemoteFn<A, R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RemoteFn<A, R>, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let forged = |e| serde::de::Error::custom(format_args!("a function reference: {e}"));
        Ok(RemoteFn {
            typed: CodeRef::open(&wire.typed).map_err(forged)?,
            erased: CodeRef::open(&wire.erased).map_err(forged)?,
        })
    }
}

impl<A, R> Clone for RemoteFn<A, R> {
    fn clone(&self) -> RemoteFn<A, R> {
        *self
    }
}

impl<A, R> Copy for RemoteFn<A, R> {}

impl<A, R> fmt::Debug for RemoteFn<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFn")
            .field("signature", &std::any::type_name::<fn(A) -> R>())
            .finish()
    }
}
