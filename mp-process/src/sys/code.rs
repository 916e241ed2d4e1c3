//! References to code of this binary that mean the same function in every
//! process running it, and the zero-sized functions made back from them.
#![allow(unsafe_code)]

use std::any::TypeId;
use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The zero-sized target `F`, made out of nothing: how a re-executed
/// child, a forkserver child or a process that received a `RemoteFn` gets
/// the function whose type it was sent.
pub(crate) fn conjure<A, F: crate::target::Target<A>>() -> F {
    // SAFETY: `Target` is sealed and implemented only for `Fn` types that
    // are `Copy + Send + 'static`, and `mp_internal::conjure` refuses a
    // non-zero-sized `F` at compile time. Such an `F` is a `fn` item, a
    // closure that captures nothing, or a closure whose captures are
    // zero-sized, `Copy` (no destructor, nothing unique), `'static` (no
    // brand) and `Send`: making a value of it duplicates nothing that must
    // stay unique and runs no destructor of a value never made. The one
    // capture no bound can exclude, a `Copy` value that certifies state of
    // the process that made it, is documented on `Target` (see "Why these
    // bounds").
    unsafe { mp_internal::conjure::<F>() }
}

/// A fixed point of this binary's code that entry points are measured from.
#[inline(never)]
fn anchor() -> i32 {
    // A distinct body keeps the linker from folding this with another function.
    std::hint::black_box(0x6d70)
}

fn anchor_address() -> isize {
    anchor as fn() -> i32 as *const () as usize as isize
}

/// A function `fn(A) -> R` of this binary, stored as an offset from the
/// anchor so that it means the same function in every process running
/// this binary.
///
/// There are two ways to make one, and both guarantee that it names a
/// function of type `fn(A) -> R`: [`new`](CodeRef::new) takes the function
/// pointer itself; [`open`](CodeRef::open) takes a [`SealedCodeRef`] that
/// another process made with [`seal`](CodeRef::seal), and checks its tag:
/// an HMAC-SHA256, keyed with the process tree's authkey, over the offset
/// and the `TypeId` of `fn(A) -> R`. So a reference that did not come from
/// `new` for this very type in a process of this tree never opens.
pub(crate) struct CodeRef<A, R> {
    offset: isize,
    _fn: PhantomData<fn(A) -> R>,
}

/// A [`CodeRef`] as it crosses to another process: its offset and a tag
/// that binds the offset to the function's type (see [`CodeRef`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct SealedCodeRef {
    offset: i64,
    tag: [u8; 32],
}

/// A [`SealedCodeRef`] whose tag did not check.
#[derive(Debug)]
pub(crate) struct ForgedCodeRef;

impl fmt::Display for ForgedCodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "not a reference to code made by this process tree \
             (wrong authkey, wrong signature, or altered)",
        )
    }
}

thread_local! {
    /// `(offset, TypeId)` pairs whose tag this thread has checked: a
    /// worker receives the same references again and again, and checks
    /// each once. (A forked child may keep its copy: what it records, that
    /// an offset names a function of that type, holds in every process of
    /// this binary.) A list, looked through: a program has few entry
    /// points, and a forkserver's child finds its own without running (and
    /// so mapping, page by page) a hasher's code.
    static OPENED: RefCell<Vec<(i64, TypeId)>> = const { RefCell::new(Vec::new()) };
}

impl<A: 'static, R: 'static> CodeRef<A, R> {
    /// The reference to `f`.
    pub(crate) fn new(f: fn(A) -> R) -> CodeRef<A, R> {
        let address = f as *const () as usize as isize;
        CodeRef {
            offset: address.wrapping_sub(anchor_address()),
            _fn: PhantomData,
        }
    }

    /// The reference with its tag, for another process of this tree.
    pub(crate) fn seal(&self) -> SealedCodeRef {
        let offset = self.offset as i64;
        SealedCodeRef {
            offset,
            tag: crate::current::with(|c| Self::mac(c.authkey(), offset))
                .finalize()
                .into_bytes()
                .into(),
        }
    }

    /// The reference `sealed` holds, if its tag is right for `fn(A) -> R`
    /// under this process tree's authkey (compared in constant time).
    pub(crate) fn open(sealed: &SealedCodeRef) -> Result<CodeRef<A, R>, ForgedCodeRef> {
        crate::current::with(|c| Self::open_under(sealed, c.authkey()))
    }

    /// Like [`open`](CodeRef::open), under `authkey` rather than this
    /// process's own: for the forkserver, which checks a job's entry point
    /// under the key the job brings (the key its child will run under)
    /// before it forks, so that the child, and every later child of the
    /// same entry point, finds it checked.
    pub(crate) fn open_under(
        sealed: &SealedCodeRef,
        authkey: &[u8],
    ) -> Result<CodeRef<A, R>, ForgedCodeRef> {
        let key = (sealed.offset, TypeId::of::<fn(A) -> R>());
        if !OPENED.with(|opened| opened.borrow().contains(&key)) {
            Self::mac(authkey, sealed.offset)
                .verify_slice(&sealed.tag)
                .map_err(|_| ForgedCodeRef)?;
            OPENED.with(|opened| opened.borrow_mut().push(key));
        }
        Ok(CodeRef {
            offset: isize::try_from(sealed.offset).map_err(|_| ForgedCodeRef)?,
            _fn: PhantomData,
        })
    }

    /// The MAC over an offset and the type `fn(A) -> R`, keyed with
    /// `authkey`. The type goes in as its `TypeId`, in both forms std gives
    /// it (what its `Hash` writes, and its `Debug` text): the same type
    /// gives the same bytes in every process of this binary, and two types
    /// never share a `TypeId` (what `Any` relies on); a `type_name` can be
    /// shared (two structs of one name in two blocks).
    fn mac(authkey: &[u8], offset: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(authkey).expect("HMAC takes keys of any length");
        mac.update(b"mp CodeRef\0");
        mac.update(&offset.to_le_bytes());
        let signature = TypeId::of::<fn(A) -> R>();
        signature.hash(&mut MacInput(&mut mac));
        mac.update(format!("{signature:?}").as_bytes());
        mac
    }

    pub(crate) fn offset(&self) -> isize {
        self.offset
    }

    /// The function.
    pub(crate) fn get(&self) -> fn(A) -> R {
        let address = anchor_address().wrapping_add(self.offset) as usize as *const ();
        // SAFETY: `self` was made by `new` from a `fn(A) -> R` of this
        // binary, in this process, or in another process running this
        // binary and opened here only after its tag proved that (see
        // `CodeRef`); the same offset from the anchor is the same function
        // in every process of the binary. A fn pointer and `*const ()`
        // have the same size and representation.
        unsafe { std::mem::transmute::<*const (), fn(A) -> R>(address) }
    }
}

/// Feeds what a `Hash` impl writes into a MAC.
struct MacInput<'a>(&'a mut Hmac<Sha256>);

impl Hasher for MacInput<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}

impl<A, R> Clone for CodeRef<A, R> {
    fn clone(&self) -> CodeRef<A, R> {
        *self
    }
}

impl<A, R> Copy for CodeRef<A, R> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u64) -> u64 {
        2 * x
    }

    fn negate(x: i64) -> i64 {
        -x
    }

    #[test]
    fn a_sealed_reference_opens_as_its_own_type_only() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(10));
        let sealed = CodeRef::new(double as fn(u64) -> u64).seal();
        let opened = CodeRef::<u64, u64>::open(&sealed).unwrap();
        assert_eq!((opened.get())(21), 42);
        // Another signature of the same size and calling convention.
        assert!(CodeRef::<i64, i64>::open(&sealed).is_err());
        // The same tag over another function's offset.
        let other = CodeRef::new(negate as fn(i64) -> i64).seal();
        let moved = SealedCodeRef {
            offset: other.offset,
            tag: sealed.tag,
        };
        assert!(CodeRef::<u64, u64>::open(&moved).is_err());
        assert!(CodeRef::<i64, i64>::open(&moved).is_err());
    }

    #[test]
    fn an_altered_tag_or_offset_does_not_open() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(10));
        // Each test runs on its own thread: nothing is opened here yet.
        let sealed = CodeRef::new(negate as fn(i64) -> i64).seal();
        let mut tag = sealed;
        tag.tag[7] ^= 1;
        assert!(CodeRef::<i64, i64>::open(&tag).is_err());
        let mut offset = sealed;
        offset.offset += 16;
        assert!(CodeRef::<i64, i64>::open(&offset).is_err());
        assert_eq!((CodeRef::<i64, i64>::open(&sealed).unwrap().get())(5), -5);
    }
}
