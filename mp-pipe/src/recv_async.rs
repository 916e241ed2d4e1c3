//! Receiving without blocking an async executor (the `tokio` feature):
//! the connection's socket is registered with tokio's reactor, and a
//! receive is tried without waiting each time it becomes readable.
//!
//! A [`pipe`](crate::pipe) end with the shared-memory fast path is woken
//! through the same socket: while it waits, the receive counts itself as a
//! sleeper of the incoming lane (as a blocking receive does before it
//! sleeps in `poll`), so a writer that publishes a message in the ring
//! rings the one-byte doorbell on the socket, which makes it readable.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::fast_path::FastPath;

impl Connection {
    /// Receives a value without blocking the async executor: what
    /// [`recv`](Connection::recv) does, awaiting the socket's readiness on
    /// tokio's reactor (no thread waits). It needs a tokio runtime with I/O
    /// enabled (`enable_io`, part of `enable_all`); a current-thread
    /// runtime is enough.
    ///
    /// It takes `&mut self`: one receive awaits on a handle at a time (two
    /// tasks that receive from one end use [`try_clone`](Connection::try_clone)).
    /// A receive that is dropped before it finished loses nothing: part of
    /// a message that already arrived is kept for the next receive.
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(pipe), "::Error> {")]
    #[doc = concat!("let (mut a, b) = ", crate::mp_crate!(pipe), "::pipe()?;")]
    /// let rt = tokio::runtime::Builder::new_current_thread()
    ///     .enable_io()
    ///     .build()?;
    /// let got: String = rt.block_on(async {
    ///     b.send("from another task or process")?;
    ///     a.recv_async().await
    /// })?;
    /// assert_eq!(got, "from another task or process");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn recv_async<T: DeserializeOwned>(&mut self) -> Result<T> {
        self.await_message(|conn| conn.recv_timeout(Duration::ZERO))
            .await
    }

    /// Receives one message as raw bytes without blocking the async
    /// executor (see [`recv_async`](Connection::recv_async)).
    pub async fn recv_bytes_async(&mut self) -> Result<Vec<u8>> {
        self.await_message(|conn| conn.recv_bytes_timeout(Duration::ZERO))
            .await
    }

    /// Tries `receive` (which must not wait) each time the socket may have
    /// something, until it gives anything but a timeout.
    async fn await_message<R>(&mut self, receive: impl Fn(&Connection) -> Result<R>) -> Result<R> {
        let this = &*self;
        let attempt = || -> Option<Result<R>> {
            match this.poll(Duration::ZERO) {
                Ok(false) => None,
                Ok(true) => match receive(this) {
                    Err(Error::Timeout) => None,
                    other => Some(other),
                },
                Err(e) => Some(Err(e)),
            }
        };
        if let Some(outcome) = attempt() {
            return outcome;
        }
        let socket = crate::sys_reactor::register_readable(this.read_fd()?)?;
        loop {
            let sleeper = Sleeper::announce(this.fast.as_ref());
            if sleeper.arrived {
                // Published meanwhile, but `attempt` did not take it (a
                // reader of another handle is at work): look again after
                // letting other tasks run.
                drop(sleeper);
                mp_internal::yield_once().await;
            } else {
                let mut ready = socket.readable().await?;
                drop(sleeper);
                if let Some(outcome) = attempt() {
                    return outcome;
                }
                // Nothing to receive (a doorbell, drained by `poll`, or part
                // of a message): wait for the next readiness.
                ready.clear_ready();
            }
            if let Some(outcome) = attempt() {
                return outcome;
            }
        }
    }
}

/// A waiting receive counted as a sleeper of the fast path's incoming
/// lane, so that its writers ring the doorbell; uncounted when dropped
/// (also when the receive's future is dropped mid-wait).
struct Sleeper<'a> {
    fast: Option<&'a FastPath>,
    /// A message was published before the count was seen: nothing was
    /// counted, and there is no need to wait.
    arrived: bool,
}

impl Sleeper<'_> {
    fn announce(fast: Option<&FastPath>) -> Sleeper<'_> {
        match fast {
            Some(fast) if fast.announce_sleep() => Sleeper {
                fast: None,
                arrived: true,
            },
            fast => Sleeper {
                fast,
                arrived: false,
            },
        }
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        if let Some(fast) = self.fast {
            fast.end_sleep();
        }
    }
}
