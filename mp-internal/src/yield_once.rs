//! Giving an async executor's thread to other tasks once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that is pending once (waking itself) and then ready: awaited
/// between two looks at a resource, it lets the executor run its other
/// tasks first (an awaited receive that found nothing yet, say).
pub fn yield_once() -> impl Future<Output = ()> {
    YieldOnce(false)
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
