//! `imap` and `imap_unordered`: lazy iterators with a bounded window of
//! chunks in flight.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::arrivals::Arrivals;
use crate::error::{Error, Result};
use crate::scheduler::{Scheduler, Sink};
use crate::wire::{self, FnRef};

/// Decodes the chunks of one `imap` into its arrivals.
pub(crate) struct StreamSink<R>(Arrivals<R>);

impl<R: DeserializeOwned + Send + 'static> Sink for StreamSink<R> {
    fn deliver(&self, seq: usize, _start: usize, n: usize, outcome: Result<Vec<u8>>) {
        let mut items = Vec::with_capacity(n);
        match outcome {
            Ok(bytes) => wire::decode_results::<R>(&bytes, n, |item| items.push(item)),
            Err(e) => items.resize_with(n, || Err(e.clone())),
        }
        self.0.put(seq, items);
    }
}

/// Pulls the next chunk's items from the source and frames them: how many
/// it took (0: the source is exhausted) and the chunk, or why it could not
/// be framed.
pub(crate) type Feed<'a> = Box<dyn FnMut() -> (usize, Result<Vec<u8>>) + 'a>;

/// The iterator of [`Pool::imap`](crate::Pool::imap) (results in the order
/// of the arguments) and [`Pool::imap_unordered`](crate::Pool::imap_unordered)
/// (results as they come; each chunk's items stay together and in order).
///
/// It is lazy: it takes arguments from the source only to keep a bounded
/// number of chunks in flight (see [`PoolBuilder::imap_window`](crate::PoolBuilder::imap_window)),
/// so it works on an endless iterator and holds only that window in memory.
/// Each item is the task's value or its error; iteration goes on after an
/// error. If the pool is closed or terminated while chunks are pending,
/// they yield [`Error::Terminated`] (or the pool's error) and the iterator ends.
pub struct IMap<'a, R> {
    scheduler: Arc<Scheduler>,
    sink: Arc<StreamSink<R>>,
    fref: Arc<FnRef>,
    feed: Feed<'a>,
    ordered: bool,
    window: usize,
    /// Chunks submitted so far (the next chunk's number).
    submitted: usize,
    /// Chunks taken from the sink so far.
    taken: usize,
    /// Items of the current chunk not yet yielded.
    current: VecDeque<Result<R>>,
    /// Items submitted so far (the next chunk's first index).
    items: usize,
    exhausted: bool,
    /// A submission failed: yielded once, then the iterator ends.
    failed: Option<Error>,
}

impl<'a, R: DeserializeOwned + Send + 'static> IMap<'a, R> {
    pub(crate) fn new(
        scheduler: Arc<Scheduler>,
        fref: Arc<FnRef>,
        feed: Feed<'a>,
        ordered: bool,
        window: usize,
    ) -> IMap<'a, R> {
        IMap {
            scheduler,
            sink: Arc::new(StreamSink(Arrivals::new())),
            fref,
            feed,
            ordered,
            window: window.max(1),
            submitted: 0,
            taken: 0,
            current: VecDeque::new(),
            items: 0,
            exhausted: false,
            failed: None,
        }
    }

    /// Submits chunks until the window is full or the source is exhausted.
    fn fill(&mut self) {
        while !self.exhausted && self.failed.is_none() && self.submitted - self.taken < self.window
        {
            let (n, args) = (self.feed)();
            if n == 0 {
                self.exhausted = true;
                break;
            }
            let sink: Arc<dyn Sink> = self.sink.clone();
            let submitted = args.and_then(|args| {
                self.scheduler
                    .submit(sink, self.submitted, self.items, n, &self.fref, args)
            });
            match submitted {
                Ok(()) => {
                    self.submitted += 1;
                    self.items += n;
                }
                Err(e) => self.failed = Some(e),
            }
        }
        // Its results are routed by the result thread.
        self.scheduler.kick();
    }

    /// Like `next`, waiting at most `timeout` for the next result (Python's
    /// `next(timeout)`): `Some(Err(Error::Timeout))` if none came in time
    /// (call again to wait more).
    #[doc(alias = "next")]
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R>> {
        self.next_until(Instant::now().checked_add(timeout))
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<R>> {
        loop {
            if let Some(item) = self.current.pop_front() {
                return Some(item);
            }
            self.fill();
            if self.taken == self.submitted {
                // Nothing in flight: the source is exhausted, or a
                // submission failed (reported once).
                return self.failed.take().map(|e| {
                    self.exhausted = true;
                    Err(e)
                });
            }
            let pool = Arc::downgrade(&self.scheduler);
            let items = match self.sink.0.take(self.taken, self.ordered, deadline, &pool) {
                Ok(Ok(items)) => items,
                Ok(Err(e)) | Err(e) => return Some(Err(e)),
            };
            self.taken += 1;
            self.current = items.into();
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> IMap<'_, R> {
    /// The next result, awaited without blocking the executor (any
    /// runtime): what [`next`](Iterator::next) gives, woken by the pool's
    /// result thread when a chunk arrives. With the `stream` feature the
    /// iterator is also a `futures_core::Stream`.
    ///
    /// Taking arguments from the source and submitting chunks happens in
    /// the awaiting task, as in `next`: a source that blocks blocks it.
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pool), "::Error> {")]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    #[doc = concat!("let pool = ", crate::mp_crate!(pool), "::Pool::new(2)?;")]
    /// let mut squares = pool.imap(square, 0..5u64)?;
    /// # let block_on = |f| futures_lite_block_on(f);
    /// let first = block_on(squares.next_async());
    /// assert_eq!(first, Some(Ok(0)));
    /// # Ok(())
    /// # }
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Wake, Waker};
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl Wake for Unpark {
    /// #         fn wake(self: std::sync::Arc<Self>) { self.0.unpark() }
    /// #     }
    /// #     let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
    /// #             return v;
    /// #         }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// ```
    pub async fn next_async(&mut self) -> Option<Result<R>> {
        poll_fn(|cx| self.poll_next_item(cx)).await
    }

    fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<R>>> {
        loop {
            if let Some(item) = self.current.pop_front() {
                return Poll::Ready(Some(item));
            }
            self.fill();
            if self.taken == self.submitted {
                return Poll::Ready(self.failed.take().map(|e| {
                    self.exhausted = true;
                    Err(e)
                }));
            }
            let items = match self.sink.0.poll_take(self.taken, self.ordered, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(items)) => items,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
            };
            self.taken += 1;
            self.current = items.into();
        }
    }
}

/// With the `stream` feature: the results as a stream (see
/// [`next_async`](IMap::next_async)).
#[cfg(feature = "stream")]
impl<R: DeserializeOwned + Send + 'static> futures_core::Stream for IMap<'_, R> {
    type Item = Result<R>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<R>>> {
        self.get_mut().poll_next_item(cx)
    }
}

// Nothing in an `IMap` is pinned (its items are moved out, never
// borrowed across a poll): the stream may be polled through `&mut`.
impl<R> Unpin for IMap<'_, R> {}

impl<R: DeserializeOwned + Send + 'static> Iterator for IMap<'_, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.next_until(None)
    }
}

impl<R> fmt::Debug for IMap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.ordered)
            .field("window", &self.window)
            .field("in_flight", &(self.submitted - self.taken))
            .field("exhausted", &self.exhausted)
            .finish()
    }
}
