//! [`Namespace`]: named attributes on the server (Python's
//! `manager.Namespace()`).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::number::{Number, arith};
use crate::object_ref::{
    ObjectRef, decode_exact, decode_item, decode_with, encode_entry, encode_key, proxy_plumbing,
    unexpected,
};
use crate::proxy::{boolean, unit};
use crate::wire::{Answer, NumOp, Op};

/// A namespace on the manager's server: named attributes of any serde type
/// (Python's `manager.Namespace()`, where `ns.x = 1` becomes
/// `ns.set("x", &1)` and `ns.x` becomes `ns.get::<i32>("x")`).
///
/// Each attribute is typed by the caller; reading one with another type is
/// an [`Error::Decode`]. Reads return owned copies.
///
/// ```
#[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(manager), "::Error> {")]
#[doc = concat!("let manager = ", crate::mp_crate!(manager), "::Manager::start()?;")]
/// let ns = manager.namespace()?;
/// ns.set("x", &10)?;
/// ns.set("name", "run-1")?;
/// ns.fetch_add("x", 5)?;
/// assert_eq!(ns.get::<i32>("x")?, 15);
/// assert_eq!(ns.get::<String>("name")?, "run-1");
/// assert!(ns.get::<i32>("missing").is_err());
/// # Ok(())
/// # }
/// ```
pub struct Namespace {
    object: ObjectRef,
    _types: PhantomData<()>,
}

proxy_plumbing!(Namespace, [Namespace]);

impl Namespace {
    /// A copy of attribute `name` (Python's `ns.name`);
    /// [`Error::NoAttribute`] if it is not set.
    #[doc(alias = "__getattr__")]
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.get_opt(name)?
            .ok_or_else(|| Error::NoAttribute(name.to_owned()))
    }

    /// A copy of attribute `name`, `None` if it is not set (Python's
    /// `getattr(ns, name, None)`).
    #[doc(alias = "getattr")]
    pub fn get_opt<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let pool = self.object.pool();
        let key = encode_key(&pool, name)?;
        match self.object.op_on(&pool, Op::MapGet(key))? {
            Answer::MaybeItem(Some(item)) => decode_item(&pool, item).map(Some),
            Answer::MaybeItem(None) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Sets attribute `name` (Python's `ns.name = value`).
    #[doc(alias = "__setattr__")]
    #[doc(alias = "setattr")]
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        let pool = self.object.pool();
        let (key, item) = encode_entry(&pool, name, value)?;
        unit(self.object.op_on(&pool, Op::MapSet(key, item))?)
    }

    /// Removes attribute `name` (Python's `del ns.name`); `false` if it was
    /// not set.
    #[doc(alias = "delattr")]
    pub fn remove(&self, name: &str) -> Result<bool> {
        let pool = self.object.pool();
        let key = encode_key(&pool, name)?;
        match self.object.op_on(&pool, Op::MapRemove(key))? {
            Answer::MaybeItem(old) => {
                let present = old.is_some();
                if let Some(old) = old {
                    decode_with(&pool, old.refs, || Ok(()))?;
                }
                Ok(present)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Whether attribute `name` is set (Python's `hasattr`).
    #[doc(alias = "hasattr")]
    pub fn contains(&self, name: &str) -> Result<bool> {
        let pool = self.object.pool();
        let key = encode_key(&pool, name)?;
        boolean(self.object.op_on(&pool, Op::MapContains(key))?)
    }

    /// The attribute names, in the order they were first set.
    #[doc(alias = "dir")]
    pub fn names(&self) -> Result<Vec<String>> {
        match self.object.op(Op::MapKeys)?.1 {
            Answer::Keys(keys) => keys.iter().map(|k| decode_exact(k)).collect(),
            other => Err(unexpected(other)),
        }
    }

    /// Adds `delta` to the number in attribute `name` on the server and
    /// returns the old value (an unset attribute counts as zero).
    pub fn fetch_add<T: Number>(&self, name: &str, delta: T) -> Result<T> {
        self.arith(name, NumOp::Add, delta)
    }

    /// Subtracts `delta` from the number in attribute `name` (see
    /// [`fetch_add`](Namespace::fetch_add)).
    pub fn fetch_sub<T: Number>(&self, name: &str, delta: T) -> Result<T> {
        self.arith(name, NumOp::Sub, delta)
    }

    fn arith<T: Number>(&self, name: &str, op: NumOp, delta: T) -> Result<T> {
        let pool = self.object.pool();
        let key = encode_key(&pool, name)?;
        match self
            .object
            .op_on(&pool, Op::MapArith(key, arith(op, delta)?))?
        {
            Answer::Item(item) => decode_exact(&item.bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Atomically updates attribute `name`: `f` gets a copy (`None` if
    /// unset) to change; `None` afterwards removes it. Runs again if another
    /// call changed the attribute meanwhile.
    pub fn update_with<T, R>(&self, name: &str, f: impl FnMut(&mut Option<T>) -> R) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
        let pool = self.object.pool();
        let key = encode_key(&pool, name)?;
        self.object.update_entry(key, f)
    }
}
