//! One doc example, two readers: the crate's own docs and the `mp` facade.
//!
//! The facade re-exports every crate with `#[doc(inline)]`, so its rendered
//! docs show the crates' examples. A facade user depends on `mp` only and
//! must read `use mp::pool::Pool;`; a user of mp-pool alone must read
//! `use mp_pool::Pool;`. [`doc_crate_paths!`](crate::doc_crate_paths)
//! defines, in the crate that invokes it, `crate::mp_crate!(pool)`: the
//! string `"mp_pool"` when rustdoc documents or tests that crate itself
//! (`cfg(doc)`, `cfg(doctest)`), and `"mp::pool"` in the crate's compiled
//! metadata, which is what rustdoc reads when it renders the facade (and
//! what docs.rs renders for `mp`). An example line naming a crate is then
//!
//! ```text
//! #[doc = concat!("use ", crate::mp_crate!(pool), "::Pool;")]
//! ```
//!
//! The crate's doctests compile the `mp_pool` form; the facade's test
//! (`tests/doc_examples.rs` at the workspace root) compiles the `mp::pool`
//! form against `mp` alone.

/// Defines `crate::mp_crate!(name)` in the invoking crate: `"mp_name"` in
/// that crate's own docs and doctests, `"mp::name"` where the facade renders
/// them (see the [module docs](crate::doc_paths)). Invoke it once, at the
/// crate root.
#[macro_export]
macro_rules! doc_crate_paths {
    () => {
        #[cfg(any(doc, doctest))]
        macro_rules! mp_crate {
            ($name:ident) => {
                concat!("mp_", stringify!($name))
            };
        }
        #[cfg(not(any(doc, doctest)))]
        macro_rules! mp_crate {
            ($name:ident) => {
                concat!("mp::", stringify!($name))
            };
        }
        #[allow(unused_imports)]
        pub(crate) use mp_crate;
    };
}
