//! The start of a client connection: the client names its session, and a
//! client on the same machine may move the connection onto a pipe whose
//! ends share memory (see [`Request::HelloPipe`]): a call then costs a
//! hand-off through a ring, not a socket wake-up.

use mp_pipe::Connection;

use super::{Core, reply_to_bad_frame};
use crate::wire::{Answer, Fault, Reply, Request, SessionId};

impl Core {
    /// Waits for the client's `Hello` (or `HelloPipe`); everything else is
    /// refused, with a reply so that the stream stays in step. The session
    /// and the connection to serve it on; `None` if the client left.
    pub(super) fn greet(&self, socket: Connection) -> Option<(SessionId, Connection)> {
        loop {
            let fault = match socket.recv::<Request>() {
                Ok(Request::Hello { session }) => return Some((session, socket)),
                Ok(Request::HelloPipe { session, conn }) => {
                    if conn.readable() && conn.writable() {
                        // The limits the listener gave the socket hold on
                        // the pipe too; the client waits for the answer
                        // before it sends there.
                        conn.set_max_message_size(socket.max_message_size());
                        socket.send(&Reply(Ok(Answer::Unit))).ok()?;
                        return Some((session, *conn));
                    }
                    Fault::BadRequest("HelloPipe needs a duplex pipe end".into())
                }
                Ok(_) => Fault::BadRequest("the first request must be Hello".into()),
                Err(mp_pipe::Error::Decode(e)) => {
                    Fault::BadRequest(format!("undecodable request: {e}"))
                }
                Err(e) => {
                    reply_to_bad_frame(&socket, e);
                    return None;
                }
            };
            socket.send(&Reply(Err(fault))).ok()?;
        }
    }
}
