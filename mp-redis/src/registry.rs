//! Functions that workers may run, registered by name at link time with
//! [`register!`](crate::register).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::OnceLock;

use mp_process::{Args, ErasedFn, RemoteFn, Target};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// One `register!` line: how to describe the function it names.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registration {
    /// Describes the function (a plain fn pointer, so it fits a static).
    pub describe: fn() -> Described,
}

/// A registered function: its name, its type, and how to call it on
/// encoded arguments.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Described {
    name: &'static str,
    type_id: TypeId,
    call: ErasedFn,
}

/// Describes `f` (used by `register!`).
#[doc(hidden)]
pub fn describe<F, A, R>(f: F) -> Described
where
    F: Target<A, Output = R>,
    A: Args,
    R: Serialize + DeserializeOwned + 'static,
{
    Described {
        name: std::any::type_name::<F>(),
        type_id: TypeId::of::<F>(),
        call: RemoteFn::new(f).erase(),
    }
}

/// Every `register!` of the program, collected by the linker.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static FUNCTIONS: [Registration];

/// Registers functions that pool workers may run, by name.
///
/// Put it next to the functions (at module level), once per function:
/// every process running this build (the caller, local workers, workers
/// on other hosts started with [`serve`](crate::serve)) then knows them,
/// with no init call. A function's name is its path (`type_name`), and a
/// task also carries the build's fingerprint, so a worker running another
/// build refuses it with [`Error::WrongBuild`](crate::Error::WrongBuild)
/// instead of running code that merely has the same name.
///
/// Functions are `fn` items (or closures that capture nothing) whose
/// arguments and result are serde values, as for mp-pool.
///
/// ```
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn add(a: u64, b: u64) -> u64 {
///     a + b
/// }
///
#[doc = concat!(crate::mp_crate!(redis), "::register!(square, add);")]
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! register {
    ($($f:path),+ $(,)?) => {
        $(
            const _: () = {
                // A linker section entry, not unsafe code.
                #[allow(unsafe_code)]
                #[$crate::__private::linkme::distributed_slice($crate::__private::FUNCTIONS)]
                #[linkme(crate = $crate::__private::linkme)]
                static REGISTRATION: $crate::__private::Registration =
                    $crate::__private::Registration {
                        describe: || $crate::__private::describe($f),
                    };
            };
        )+
    };
}

struct Registry {
    by_name: HashMap<&'static str, Described>,
    /// Names that more than one function claims (closures of one scope):
    /// none of them may run.
    ambiguous: Vec<&'static str>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut by_name: HashMap<&'static str, Described> = HashMap::new();
        let mut ambiguous = Vec::new();
        for registration in FUNCTIONS {
            let described = (registration.describe)();
            match by_name.get(described.name) {
                Some(known) if known.type_id != described.type_id => ambiguous.push(described.name),
                _ => {
                    by_name.insert(described.name, described);
                }
            }
        }
        for name in &ambiguous {
            by_name.remove(name);
        }
        Registry { by_name, ambiguous }
    })
}

/// The name `f` is registered under, or [`Error::NotRegistered`].
pub(crate) fn name_of<F: 'static>() -> Result<&'static str> {
    let name = std::any::type_name::<F>();
    let registry = registry();
    match registry.by_name.get(name) {
        Some(d) if d.type_id == TypeId::of::<F>() => Ok(d.name),
        _ if registry.ambiguous.contains(&name) => Err(Error::NotRegistered(format!(
            "{name} (several functions share this name)"
        ))),
        _ => Err(Error::NotRegistered(name.to_owned())),
    }
}

/// The function registered as `name` in this build.
pub(crate) fn lookup(name: &str) -> Option<ErasedFn> {
    registry().by_name.get(name).map(|d| d.call)
}
