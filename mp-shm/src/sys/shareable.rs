//! The contract for plain data in shared memory.

/// Plain data that can live in shared memory and be read by other processes
/// (the element types of Python's `Value('i')`, `Array('d', n)`, ctypes
/// structures).
///
/// Implemented for the integers, `f32`, `f64`, `bool` and arrays `[T; N]` of
/// shareable `T` (`Array('c', n)` is `Array<u8>`). Implement it for your own
/// `#[repr(C)]` records of shareable fields:
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
///
/// // SAFETY: repr(C), two f64 fields, no padding, no pointers.
#[doc = concat!("unsafe impl ", crate::mp_crate!(shm), "::Shareable for Point {}")]
/// ```
///
/// # Safety
///
/// Implement it only for `Copy` types that
///
/// - are valid when all their bytes are zero (new values start zeroed),
/// - are valid for any mix of the bytes of two valid values (a process that
///   dies in the middle of a write, or an unlocked raw access, can leave one),
/// - have no padding bytes (their bytes are copied and compared as integers),
/// - hold no pointers, references or OS handles (they mean nothing in
///   another process), and have no alignment above 4096.
///
/// `#[repr(C)]` records of integers, floats, `bool`s and arrays of them,
/// with explicit fields instead of padding, qualify. Enums (except as raw
/// integers), `char`, references and `Box`/`Vec`/`String` do not.
pub unsafe trait Shareable: Copy + Send + Sync + 'static {}

macro_rules! shareable {
    ($($t:ty),*) => {
        $(
            // SAFETY: a primitive number or bool: zero is valid, no padding,
            // no pointers; every byte mix of valid values is valid (for
            // `bool`, the only byte is one of the two valid ones).
            unsafe impl Shareable for $t {}
        )*
    };
}

shareable!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool
);

// SAFETY: an array of shareable elements has no padding between them and
// inherits every other property element-wise.
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {}
