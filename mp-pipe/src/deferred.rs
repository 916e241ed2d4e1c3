//! The rest of a handshake whose side handed the connection over before
//! the peer answered ([`Status::Handover`]): it runs on the connection's
//! first receive, or on a send once the answer is there.
//!
//! mp's handshake without an authkey does this on the client: it sends its
//! hello and returns, as Python's `Client(address, authkey=None)` returns as
//! soon as the connection is made, so a client can connect, send and close
//! before the listener calls `accept`. The listener's answer (its size
//! limit, or a refusal) is read first thing when the client receives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mp_internal::Deadline;
use parking_lot::Mutex;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::handshake::{HandshakeSide, Status, in_handshake};

/// A handshake that still waits for the peer's answers, shared by the
/// copies of its connection.
pub(crate) struct Deferred {
    /// Until the handshake ended (done or failed): the fast check of every
    /// receive and send.
    pending: AtomicBool,
    state: Mutex<State>,
}

enum State {
    Running(Box<dyn HandshakeSide>),
    Done,
    /// Every receive and send after a failed handshake fails with this.
    Failed(Error),
}

impl Deferred {
    pub(crate) fn new(side: Box<dyn HandshakeSide>) -> Deferred {
        Deferred {
            pending: AtomicBool::new(true),
            state: Mutex::new(State::Running(side)),
        }
    }

    /// Whether the handshake has not ended yet.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Runs the handshake to its end on `conn` by `deadline` (before a
    /// receive). [`Error::Timeout`] leaves it where it was, nothing lost.
    pub(crate) fn finish(&self, conn: &Connection, deadline: &Deadline) -> Result<()> {
        if !self.pending() {
            return self.outcome();
        }
        let mut state = self.state.lock();
        self.advance(&mut state, conn, deadline)
    }

    /// Takes what the peer already answered, without waiting, if no other
    /// thread is at it (before a send, to learn the peer's limit or its
    /// refusal). Only a failed handshake is an error.
    pub(crate) fn catch_up(&self, conn: &Connection) -> Result<()> {
        if !self.pending() {
            return self.outcome();
        }
        let Some(mut state) = self.state.try_lock() else {
            return Ok(());
        };
        match self.advance(&mut state, conn, &Deadline::after(Duration::ZERO)) {
            Err(Error::Timeout) => Ok(()),
            other => other,
        }
    }

    fn outcome(&self) -> Result<()> {
        match &*self.state.lock() {
            State::Failed(e) => Err(again(e)),
            _ => Ok(()),
        }
    }

    fn advance(&self, state: &mut State, conn: &Connection, deadline: &Deadline) -> Result<()> {
        let result = match state {
            State::Running(side) => step_to_end(side.as_mut(), conn, deadline),
            State::Done => return Ok(()),
            State::Failed(e) => return Err(again(e)),
        };
        match result {
            Err(Error::Timeout) => return Err(Error::Timeout),
            Err(e) => *state = State::Failed(again(&e)),
            Ok(()) => *state = State::Done,
        }
        self.pending.store(false, Ordering::Release);
        match state {
            State::Failed(e) => Err(again(e)),
            _ => Ok(()),
        }
    }
}

/// Feeds the peer's messages to `side` until it is done.
fn step_to_end(side: &mut dyn HandshakeSide, conn: &Connection, deadline: &Deadline) -> Result<()> {
    let mut send = Vec::new();
    loop {
        let received = conn
            .recv_handshake(side.max_message_size(), deadline)
            .map_err(|e| match e {
                // The peer hung up without answering (a listener closed
                // before it accepted): end of file, as Python's recv says.
                Error::Eof => Error::Eof,
                e => in_handshake(conn, e),
            })?;
        let status = side.step(Some(&received), &mut send);
        for message in send.drain(..) {
            if let Err(e) = conn.send_handshake(&message, deadline) {
                status?;
                return Err(in_handshake(conn, e));
            }
        }
        match status? {
            Status::Continue | Status::Handover => {}
            Status::Done(outcome) => {
                conn.set_peer_max_message_size(outcome.peer_max_message_size);
                return Ok(());
            }
        }
    }
}

/// The same failure again, for the next call.
fn again(e: &Error) -> Error {
    match e {
        Error::Eof => Error::Eof,
        Error::Tls(why) => Error::Tls(why.clone()),
        Error::Authentication(why) => Error::Authentication(why.clone()),
        other => Error::Authentication(format!("the handshake failed: {other}")),
    }
}
