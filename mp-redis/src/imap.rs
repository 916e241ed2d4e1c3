//! `imap` and `imap_unordered`: lazy iterators with a bounded window of
//! chunks in flight.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::de::DeserializeOwned;

use crate::caller::{Chunk, Shared};
use crate::error::{Error, Result};
use crate::result::{Sink, decode_items};

struct Arrived<R> {
    chunks: HashMap<usize, Vec<Result<R>>>,
    /// Chunk indexes in order of arrival (for `imap_unordered`).
    order: VecDeque<usize>,
}

pub(crate) struct StreamSink<R> {
    arrived: Mutex<Arrived<R>>,
    changed: Condvar,
}

impl<R: DeserializeOwned + Send + 'static> Sink for StreamSink<R> {
    fn deliver(&self, index: usize, _start: usize, n: usize, outcome: Result<Vec<u8>>) {
        let items = decode_items::<R>(outcome, n);
        let mut arrived = self.arrived.lock();
        arrived.chunks.insert(index, items);
        arrived.order.push_back(index);
        self.changed.notify_all();
    }
}

/// Pulls the next chunk from the source: how many items it took (0: the
/// source is exhausted) and their encoding.
pub(crate) type Feed<'a> = Box<dyn FnMut() -> (usize, Result<Vec<u8>>) + 'a>;

/// The iterator of [`Pool::imap`](crate::Pool::imap) (results in the order
/// of the arguments) and [`Pool::imap_unordered`](crate::Pool::imap_unordered)
/// (results as they come; each chunk's items stay together and in order).
///
/// It is lazy: it takes arguments from the source only to keep a bounded
/// window of chunks in flight, so the source may be endless. Each item is
/// the task's value or its error; iteration goes on after an error.
pub struct IMap<'a, R> {
    shared: Arc<Shared>,
    sink: Arc<StreamSink<R>>,
    function: &'static str,
    feed: Feed<'a>,
    ordered: bool,
    window: usize,
    submitted: usize,
    taken: usize,
    items: usize,
    current: VecDeque<Result<R>>,
    exhausted: bool,
    failed: Option<Error>,
}

impl<'a, R: DeserializeOwned + Send + 'static> IMap<'a, R> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        function: &'static str,
        feed: Feed<'a>,
        ordered: bool,
        window: usize,
    ) -> IMap<'a, R> {
        IMap {
            shared,
            sink: Arc::new(StreamSink {
                arrived: Mutex::new(Arrived {
                    chunks: HashMap::new(),
                    order: VecDeque::new(),
                }),
                changed: Condvar::new(),
            }),
            function,
            feed,
            ordered,
            window: window.max(1),
            submitted: 0,
            taken: 0,
            items: 0,
            current: VecDeque::new(),
            exhausted: false,
            failed: None,
        }
    }

    fn fill(&mut self) {
        let mut chunks = Vec::new();
        while !self.exhausted
            && self.failed.is_none()
            && self.submitted + chunks.len() - self.taken < self.window
        {
            let (n, args) = (self.feed)();
            if n == 0 {
                self.exhausted = true;
                break;
            }
            match args {
                Ok(args) => {
                    let sink: Arc<dyn Sink> = self.sink.clone();
                    chunks.push(Chunk {
                        sink,
                        index: self.submitted + chunks.len(),
                        start: self.items,
                        n,
                        args,
                    });
                    self.items += n;
                }
                Err(e) => self.failed = Some(e),
            }
        }
        let count = chunks.len();
        if count == 0 {
            return;
        }
        match self.shared.submit(self.function, chunks) {
            Ok(()) => self.submitted += count,
            Err(e) => self.failed = Some(e),
        }
    }

    /// Like `next`, waiting at most `timeout` for the next result:
    /// `Some(Err(Error::Timeout))` if none came in time (call again to
    /// wait more).
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
                return self.failed.take().map(|e| {
                    self.exhausted = true;
                    Err(e)
                });
            }
            let wanted = self.taken;
            let mut arrived = self.sink.arrived.lock();
            loop {
                let ready = if self.ordered {
                    arrived.chunks.contains_key(&wanted)
                } else {
                    !arrived.order.is_empty()
                };
                if ready {
                    break;
                }
                match deadline {
                    None => self.sink.changed.wait(&mut arrived),
                    Some(d) => {
                        if self.sink.changed.wait_until(&mut arrived, d).timed_out() {
                            return Some(Err(Error::Timeout));
                        }
                    }
                }
            }
            let index = if self.ordered {
                arrived.order.retain(|&i| i != wanted);
                wanted
            } else {
                arrived.order.pop_front().expect("waited for an arrival")
            };
            let items = arrived.chunks.remove(&index).expect("the chunk arrived");
            drop(arrived);
            self.taken += 1;
            self.current = items.into();
        }
    }
}

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
