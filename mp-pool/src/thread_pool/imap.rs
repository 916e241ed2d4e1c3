//! The lazy iterator of a thread pool's `imap` and `imap_unordered`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::arrivals::Arrivals;
use crate::error::{Error, Result};
use crate::thread_pool::threads::{Job, Task, Threads};

impl<R: Send + 'static> Job for Arrivals<R> {
    fn fail(&self, reason: &Error) {
        Arrivals::fail(self, reason);
    }
}

/// Takes the next chunk's items from the source and makes its task (which
/// delivers as chunk `seq`); `None` once the source is exhausted.
pub(crate) type Feed<'a> = Box<dyn FnMut(usize) -> Option<Task> + 'a>;

/// The iterator of [`ThreadPool::imap`](crate::ThreadPool::imap) (values
/// in the order of the items) and
/// [`ThreadPool::imap_unordered`](crate::ThreadPool::imap_unordered) (as
/// they come; each chunk's items stay together and in order).
///
/// Lazy, as [`IMap`](crate::IMap): it takes items from the source (on the
/// thread that iterates) only to keep a bounded number of chunks in
/// flight, so the source may be endless. Each item is the task's value, or
/// [`Error::Panicked`]; iteration goes on after an error. If the pool is
/// terminated while chunks are out, the iterator yields
/// [`Error::Terminated`] once and ends.
pub struct ThreadIMap<'a, R> {
    threads: Arc<Threads>,
    arrivals: Arc<Arrivals<R>>,
    feed: Feed<'a>,
    ordered: bool,
    window: usize,
    /// Chunks submitted so far (the next chunk's number).
    submitted: usize,
    /// Chunks taken from the arrivals so far.
    taken: usize,
    /// Items of the current chunk not yet yielded.
    current: VecDeque<Result<R>>,
    exhausted: bool,
    /// Submitting failed, or the pool was terminated: yielded once, then
    /// the iterator ends.
    failed: Option<Error>,
}

impl<'a, R: Send + 'static> ThreadIMap<'a, R> {
    pub(crate) fn new(
        threads: Arc<Threads>,
        arrivals: Arc<Arrivals<R>>,
        feed: Feed<'a>,
        ordered: bool,
        window: usize,
    ) -> ThreadIMap<'a, R> {
        ThreadIMap {
            threads,
            arrivals,
            feed,
            ordered,
            window: window.max(1),
            submitted: 0,
            taken: 0,
            current: VecDeque::new(),
            exhausted: false,
            failed: None,
        }
    }

    /// Submits chunks until the window is full or the source is exhausted.
    fn fill(&mut self) {
        while !self.exhausted && self.failed.is_none() && self.submitted - self.taken < self.window
        {
            let Some(task) = (self.feed)(self.submitted) else {
                self.exhausted = true;
                break;
            };
            let submitted = if self.submitted == 0 {
                let job: Arc<dyn Job> = self.arrivals.clone();
                self.threads.submit(Arc::downgrade(&job), vec![task])
            } else {
                self.threads.submit_more(task)
            };
            match submitted {
                Ok(()) => self.submitted += 1,
                Err(e) => self.failed = Some(e),
            }
        }
    }

    /// Like `next`, waiting at most `timeout` for the next value (Python's
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
                // Nothing in flight: the source is exhausted, or something
                // failed (reported once).
                return self.failed.take().map(|e| {
                    self.exhausted = true;
                    Err(e)
                });
            }
            let pool = Arc::downgrade(&self.threads);
            let items = match self
                .arrivals
                .take(self.taken, self.ordered, deadline, &pool)
            {
                Ok(Ok(items)) => items,
                Ok(Err(terminated)) => {
                    // The chunks still out will not come: the iterator ends.
                    self.taken = self.submitted;
                    self.exhausted = true;
                    return Some(Err(terminated));
                }
                Err(e) => return Some(Err(e)),
            };
            self.taken += 1;
            self.current = items.into();
        }
    }
}

impl<R: Send + 'static> ThreadIMap<'_, R> {
    /// The next result, awaited without blocking the executor (any
    /// runtime), as [`IMap::next_async`](crate::IMap::next_async). With the
    /// `stream` feature the iterator is also a `futures_core::Stream`.
    pub async fn next_async(&mut self) -> Option<Result<R>> {
        std::future::poll_fn(|cx| self.poll_next_item(cx)).await
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
            let items = match self.arrivals.poll_take(self.taken, self.ordered, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(items)) => items,
                Poll::Ready(Err(terminated)) => {
                    // The chunks still out will not come: the iterator ends.
                    self.taken = self.submitted;
                    self.exhausted = true;
                    return Poll::Ready(Some(Err(terminated)));
                }
            };
            self.taken += 1;
            self.current = items.into();
        }
    }
}

/// With the `stream` feature: the results as a stream (see
/// [`next_async`](ThreadIMap::next_async)).
#[cfg(feature = "stream")]
impl<R: Send + 'static> futures_core::Stream for ThreadIMap<'_, R> {
    type Item = Result<R>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<R>>> {
        self.get_mut().poll_next_item(cx)
    }
}

// Nothing in a `ThreadIMap` is pinned (its items are moved out, never
// borrowed across a poll): the stream may be polled through `&mut`.
impl<R> Unpin for ThreadIMap<'_, R> {}

impl<R: Send + 'static> Iterator for ThreadIMap<'_, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.next_until(None)
    }
}

impl<R> fmt::Debug for ThreadIMap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadIMap")
            .field("ordered", &self.ordered)
            .field("window", &self.window)
            .field("in_flight", &(self.submitted - self.taken))
            .field("exhausted", &self.exhausted)
            .finish()
    }
}
