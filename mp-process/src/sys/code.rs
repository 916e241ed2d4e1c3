//! References to code of this binary that mean the same function in every
//! process running it, and the zero-sized functions made back from them.
#![allow(unsafe_code)]

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

/// A function pointer of type `F` (a `fn(..) -> ..` type), stored as an
/// offset from the anchor so that it means the same function in every
/// process running this binary.
pub(crate) struct CodeRef<F> {
    offset: isize,
    _fn: std::marker::PhantomData<F>,
}

impl<F: Copy> CodeRef<F> {
    /// The reference to `f`, which must be a function pointer.
    pub(crate) fn new(f: F) -> CodeRef<F> {
        const {
            assert!(
                std::mem::size_of::<F>() == std::mem::size_of::<*const ()>(),
                "CodeRef holds fn pointers"
            )
        };
        // SAFETY: `F` is pointer-sized and only ever a fn pointer type here
        // (every caller passes one); reading it as a raw pointer is exact.
        let address = unsafe { std::mem::transmute_copy::<F, *const ()>(&f) };
        CodeRef {
            offset: (address as usize as isize).wrapping_sub(anchor_address()),
            _fn: std::marker::PhantomData,
        }
    }

    /// A reference from a received offset. Callers must only pass offsets
    /// made by [`CodeRef::new`] for the same `F` in a process running this
    /// binary, and verified as such (`RemoteFn` checks an HMAC keyed by the
    /// process tree's authkey before it calls this).
    pub(crate) fn from_verified_offset(offset: isize) -> CodeRef<F> {
        CodeRef {
            offset,
            _fn: std::marker::PhantomData,
        }
    }

    pub(crate) fn offset(&self) -> isize {
        self.offset
    }

    /// The function pointer.
    pub(crate) fn get(&self) -> F {
        let address = anchor_address().wrapping_add(self.offset) as usize as *const ();
        // SAFETY: the offset was made by `new` from an `F` in this same
        // binary (directly, or verified on receipt; see above), so
        // `address` is that function; `F` is pointer-sized.
        unsafe { std::mem::transmute_copy::<*const (), F>(&address) }
    }
}

impl<F> Clone for CodeRef<F> {
    fn clone(&self) -> CodeRef<F> {
        *self
    }
}

impl<F> Copy for CodeRef<F> {}
