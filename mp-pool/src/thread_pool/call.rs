//! What a [`ThreadPool`](crate::ThreadPool) runs: any function or closure,
//! called with its arguments unpacked from a tuple.

/// A function a [`ThreadPool`](crate::ThreadPool) can call with the tuple
/// `Args` unpacked: `Fn(A1, ..., An) -> R` for up to 12 arguments, capturing
/// closures included. Threads share it, so it is `Send + Sync`; it outlives
/// the call (`'static`), as a thread's body does.
pub trait Call<Args>: Send + Sync + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function with the arguments unpacked.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! impl_call {
    ($($arg:ident),*) => {
        impl<Func, Ret, $($arg),*> Call<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Ret + Send + Sync + 'static,
        {
            type Output = Ret;

            #[allow(non_snake_case)]
            fn call(&self, ($($arg,)*): ($($arg,)*)) -> Ret {
                self($($arg),*)
            }
        }
    };
}

impl_call!();
impl_call!(A1);
impl_call!(A1, A2);
impl_call!(A1, A2, A3);
impl_call!(A1, A2, A3, A4);
impl_call!(A1, A2, A3, A4, A5);
impl_call!(A1, A2, A3, A4, A5, A6);
impl_call!(A1, A2, A3, A4, A5, A6, A7);
impl_call!(A1, A2, A3, A4, A5, A6, A7, A8);
impl_call!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
impl_call!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
impl_call!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
impl_call!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);
