//! [`SharedProxy`]: an object of a registered type on the server, used by
//! calling its exposed methods.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::object_ref::{ObjectRef, decode_exact, proxy_plumbing, unexpected};
use crate::wire::{Answer, Op};

/// A proxy of an instance of a registered user type (see
/// [`Shared`](crate::Shared) and [`Registrar::register_type`](crate::Registrar::register_type)).
///
/// Only the type's exposed methods can be called; other names are
/// [`Error::NotExposed`]. Arguments and results are serde values (use a
/// tuple for several arguments).
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(manager), "::{BaseManager, Registrar, Registry, RemoteError, Shared, SharedProxy};")]
#[doc = concat!("use ", crate::mp_crate!(manager), "::{decode_args, encode_result};")]
///
/// struct Counter(i64);
///
/// impl Shared for Counter {
///     fn exposed() -> &'static [&'static str] {
///         &["add"]
///     }
///     fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, RemoteError> {
///         let (n,): (i64,) = decode_args(args)?;
///         self.0 += n;
///         encode_result(&self.0)
///     }
/// }
///
/// struct Counters;
///
/// impl Registry for Counters {
///     fn register(registrar: &mut Registrar) {
///         registrar.register_type("Counter", |(start,): (i64,)| Counter(start));
///     }
/// }
///
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
/// let manager = BaseManager::new().registry::<Counters>().start()?;
/// let counter: SharedProxy = manager.get_with("Counter", &(10i64,))?;
/// assert_eq!(counter.call::<_, i64>("add", &(5i64,))?, 15);
/// assert!(counter.call::<_, i64>("reset", &()).is_err());
/// # Ok(())
/// # }
/// ```
pub struct SharedProxy {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(SharedProxy, [Shared]);

impl SharedProxy {
    /// Calls exposed method `method` with `args`.
    pub fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R> {
        let args = postcard::to_allocvec(args).map_err(|e| Error::Encode(e.to_string()))?;
        let bytes = self.call_raw(method, args)?;
        decode_exact(&bytes)
    }

    /// Calls exposed method `method` with already-encoded arguments.
    pub fn call_raw(&self, method: &str, args: Vec<u8>) -> Result<Vec<u8>> {
        let op = Op::Method {
            name: method.to_owned(),
            args,
        };
        match self.object.op(op)?.1 {
            Answer::Bytes(bytes) => Ok(bytes),
            other => Err(unexpected(other)),
        }
    }

    /// The typeid this object was created through.
    pub fn typeid(&self) -> Option<&str> {
        self.object.typeid()
    }
}
