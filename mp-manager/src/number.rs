//! Numbers the server can add to without knowing the proxy's type: the
//! client names the type ([`NumKind`]), the server decodes the stored bytes
//! as that type, does the arithmetic and stores the result.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{Arith, Fault, NumKind, NumOp};

mod sealed {
    pub trait Sealed {}
}

/// A number the server can do arithmetic on (`fetch_add`, `fetch_sub`):
/// every primitive integer and float type.
///
/// Integers wrap on overflow, like `AtomicI64::fetch_add`; floats follow
/// IEEE arithmetic.
pub trait Number: Serialize + DeserializeOwned + Copy + Send + sealed::Sealed + 'static {
    #[doc(hidden)]
    const KIND: NumKindToken;
}

/// The wire name of a [`Number`] type (opaque).
#[derive(Clone, Copy, Debug)]
pub struct NumKindToken(pub(crate) NumKind);

macro_rules! numbers {
    ($($t:ty => $k:ident),* $(,)?) => {
        $(
            impl sealed::Sealed for $t {}
            impl Number for $t {
                const KIND: NumKindToken = NumKindToken(NumKind::$k);
            }
        )*
    };
}

numbers!(
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    f32 => F32, f64 => F64,
);

// Postcard encodes isize/usize exactly as i64/u64 (varints), so they can
// share those kinds.
impl sealed::Sealed for isize {}
impl Number for isize {
    const KIND: NumKindToken = NumKindToken(NumKind::I64);
}
impl sealed::Sealed for usize {}
impl Number for usize {
    const KIND: NumKindToken = NumKindToken(NumKind::U64);
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Fault> {
    mp_internal::codec::from_bytes_exact(bytes)
        .map_err(|e| Fault::WrongValue(format!("{what} ({e})")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Fault> {
    postcard::to_allocvec(value).map_err(|e| Fault::BadRequest(format!("cannot encode: {e}")))
}

macro_rules! int_arith {
    ($t:ty, $old:expr, $arith:expr) => {{
        let old: $t = match $old {
            Some(bytes) => decode(bytes, "a number of the type fetch_add was called with")?,
            None => 0,
        };
        let delta: $t = decode(&$arith.delta, "the delta")?;
        let new = match $arith.op {
            NumOp::Add => old.wrapping_add(delta),
            NumOp::Sub => old.wrapping_sub(delta),
        };
        (encode(&old)?, encode(&new)?)
    }};
}

macro_rules! float_arith {
    ($t:ty, $old:expr, $arith:expr) => {{
        let old: $t = match $old {
            Some(bytes) => decode(bytes, "a number of the type fetch_add was called with")?,
            None => 0.0,
        };
        let delta: $t = decode(&$arith.delta, "the delta")?;
        let new = match $arith.op {
            NumOp::Add => old + delta,
            NumOp::Sub => old - delta,
        };
        (encode(&old)?, encode(&new)?)
    }};
}

/// Applies `arith` to the stored encoding `old` (`None`: a missing entry,
/// counted as zero) and returns `(old, new)` encodings.
pub(crate) fn apply(old: Option<&[u8]>, arith: &Arith) -> Result<(Vec<u8>, Vec<u8>), Fault> {
    Ok(match arith.kind {
        NumKind::I8 => int_arith!(i8, old, arith),
        NumKind::I16 => int_arith!(i16, old, arith),
        NumKind::I32 => int_arith!(i32, old, arith),
        NumKind::I64 => int_arith!(i64, old, arith),
        NumKind::I128 => int_arith!(i128, old, arith),
        NumKind::U8 => int_arith!(u8, old, arith),
        NumKind::U16 => int_arith!(u16, old, arith),
        NumKind::U32 => int_arith!(u32, old, arith),
        NumKind::U64 => int_arith!(u64, old, arith),
        NumKind::U128 => int_arith!(u128, old, arith),
        NumKind::F32 => float_arith!(f32, old, arith),
        NumKind::F64 => float_arith!(f64, old, arith),
    })
}

/// The request for `value op delta` on a `T`.
pub(crate) fn arith<T: Number>(op: NumOp, delta: T) -> Result<Arith, crate::Error> {
    Ok(Arith {
        kind: T::KIND.0,
        op,
        delta: postcard::to_allocvec(&delta).map_err(|e| crate::Error::Encode(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Number>(old: Option<T>, op: NumOp, delta: T) -> (T, T) {
        let old = old.map(|v| postcard::to_allocvec(&v).unwrap());
        let (o, n) = apply(old.as_deref(), &arith(op, delta).unwrap()).unwrap();
        (
            postcard::from_bytes(&o).unwrap(),
            postcard::from_bytes(&n).unwrap(),
        )
    }

    #[test]
    fn adds_and_subtracts_every_kind() {
        assert_eq!(run(Some(5i32), NumOp::Add, 3), (5, 8));
        assert_eq!(run(Some(5u8), NumOp::Sub, 6), (5, 255));
        assert_eq!(run(Some(i64::MAX), NumOp::Add, 1), (i64::MAX, i64::MIN));
        assert_eq!(run(None, NumOp::Add, 2u128), (0, 2));
        assert_eq!(run(Some(1.5f64), NumOp::Add, 0.25), (1.5, 1.75));
        assert_eq!(run(Some(-3isize), NumOp::Sub, 4), (-3, -7));
        assert_eq!(run(Some(7usize), NumOp::Add, 1), (7, 8));
    }

    #[test]
    fn a_stored_value_of_another_type_is_a_wrong_value_fault() {
        let stored = postcard::to_allocvec("text").unwrap();
        let err = apply(Some(&stored), &arith(NumOp::Add, 1.0f64).unwrap()).unwrap_err();
        assert!(matches!(err, Fault::WrongValue(_)), "{err:?}");
        // Trailing bytes are a mismatch too, not a silently truncated read.
        let err = apply(Some(&stored), &arith(NumOp::Add, 1i32).unwrap()).unwrap_err();
        assert!(matches!(err, Fault::WrongValue(_)), "{err:?}");
    }
}
