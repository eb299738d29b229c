//! One client connection: its socket, its buffers, and the loop that turns
//! the bytes it sends into the bytes it is sent.
//!
//! [`Session::drive`] is called whenever the connection's socket is ready.
//! It serves what is already buffered, reads once, serves again, and writes
//! all the responses of the batch at once, so a client that pipelines gets one
//! read and one write system call per batch, not per request:
//!
//! ```text
//! socket --read--> ReadBuffer --parse/execute/compose--> WriteBuffer --write--> socket
//! ```
//!
//! Limits keep memory bounded whatever clients do: the read buffer never
//! grows past `read_max` (a request that does not fit closes the
//! connection); once `write_max` bytes of responses are waiting the session
//! stops taking requests until the client reads; and all sessions of a
//! server share one [`MemoryBudget`] for what their buffers hold above their
//! initial size.

mod budget;
mod buffer;
mod counters;
mod limits;
mod round;
mod socket_io;
mod uncommitted;
mod unfinished;
mod write_buffer;

use std::io::{self, Read, Write};

use counters::{REQUEST_ERRORS, REQUEST_OVERFLOWS, REQUESTS};
use petrel_protocol::{Executed, Flow, ParseError, Protocol, Recovery, Service, Streamed};
use uncommitted::Uncommitted;
use unfinished::Unfinished;

pub use budget::MemoryBudget;
pub use buffer::{Fill, ReadBuffer};
pub use limits::{Limits, Traffic};
pub use round::{Committed, Progress, Readiness};
pub use write_buffer::WriteBuffer;

/// What became of the request at the front of the read buffer.
enum Outcome {
    Served { consumed: usize, flow: Flow },
    Incomplete,
    Rejected(Recovery),
}

/// Why serving stopped.
enum Stop {
    NeedInput,
    RequestLimit,
    /// A part of an unfinished response was composed; the worker's other
    /// connections go next.
    PartComposed,
    /// An unfinished response has nothing more to compose for now.
    Waiting,
    WriteFull,
    Close,
}

/// A client connection and its buffers; `T` is what the protocol remembers
/// about the connection between requests ([`Protocol::State`]).
#[derive(Debug)]
pub struct Session<S, T = ()> {
    stream: S,
    /// The protocol's state for this connection.
    state: T,
    read: ReadBuffer,
    write: WriteBuffer,
    /// What the replies composed since the last commit become if it fails.
    uncommitted: Uncommitted,
    /// A response composed in parts, served before the next request.
    unfinished: Unfinished,
    /// Bytes of a rejected request still to be dropped as they arrive.
    discard: u64,
    /// No more reads: the peer closed its side, or the server is stopping.
    /// Requests already buffered are still served.
    input_ended: bool,
    /// No more requests served (quit, or input the stream cannot recover
    /// from); what was composed is still sent.
    closing: bool,
    /// The last read took everything the socket had, so there is nothing to
    /// read until the next readiness event.
    drained: bool,
    /// The peer has closed its side: read until the end of the stream even
    /// after a short read, as no further readiness event will come.
    peer_closed: bool,
    /// The stream's own flush found bytes it could not send yet.
    stream_holds_output: bool,
    traffic: Traffic,
}

impl<S: Read + Write, T: Default> Session<S, T> {
    /// A session on a connected, non-blocking stream.
    pub fn new(stream: S, limits: &Limits, traffic: Traffic) -> Self {
        Self {
            stream,
            state: T::default(),
            read: ReadBuffer::new(limits.initial, limits.read_max, limits.memory.clone()),
            write: WriteBuffer::new(limits.initial, limits.write_max, limits.memory.clone()),
            uncommitted: Uncommitted::default(),
            unfinished: Unfinished::default(),
            discard: 0,
            input_ended: false,
            closing: false,
            drained: false,
            peer_closed: false,
            stream_holds_output: false,
            traffic,
        }
    }

    /// The socket.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The socket, for registration with an event loop.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Whether responses are waiting for the socket to accept them: the event
    /// loop then needs to hear when it becomes writable.
    pub fn has_pending_output(&self) -> bool {
        !self.write.is_empty() || self.stream_holds_output
    }

    /// Whether the connection is sent a stream of events (a log) it waits
    /// for in silence, so an idle timeout does not apply to it.
    pub fn waits_for_events(&self) -> bool {
        self.unfinished.waits_for_events()
    }

    /// Bytes of memory held by the buffers.
    pub fn buffered_capacity(&self) -> usize {
        self.read.capacity() + self.write.capacity()
    }

    /// Stops reading: requests already buffered are served and their
    /// responses sent, then [`drive`](Self::drive) reports `Done`. Used for
    /// graceful shutdown.
    pub fn end_input(&mut self) {
        self.input_ended = true;
    }

    /// Serves the connection after its socket became ready (or to resume
    /// after a [`Progress::Yield`]), serving at most `max_requests` requests, and
    /// sends the responses once the service has committed them. An error
    /// means the connection is broken; the caller closes it.
    pub fn drive<P: Protocol<State = T>, V: Service<P>>(
        &mut self,
        protocol: &P,
        service: &mut V,
        max_requests: usize,
        readiness: Readiness,
    ) -> io::Result<Progress> {
        let progress = self.serve_input(protocol, service, max_requests, readiness)?;
        match Committed::by::<P, V>(service) {
            Ok(committed) => self.send_output(progress, &committed),
            Err(error) => self.send_after_failed_commit(protocol, service, progress, error),
        }
    }

    /// The first half of [`drive`](Self::drive): serves what the socket has,
    /// leaving the responses in the write buffer until
    /// [`send_output`](Self::send_output), so that an event loop can commit
    /// the requests of many connections at once in between.
    pub fn serve_input<P: Protocol<State = T>, V: Service<P>>(
        &mut self,
        protocol: &P,
        service: &mut V,
        max_requests: usize,
        readiness: Readiness,
    ) -> io::Result<Progress> {
        if readiness.readable || readiness.read_closed {
            self.drained = false;
        }
        self.peer_closed |= readiness.read_closed;
        // Nothing is sent here: responses buffered may be from requests
        // served earlier in this round and not yet committed. The event
        // loop commits, then sends (`send_output`).
        let mut served = 0;
        let progress = loop {
            if self.closing {
                break Progress::Idle;
            }
            match self.serve(protocol, service, max_requests, &mut served) {
                Stop::RequestLimit | Stop::PartComposed => break Progress::Yield,
                Stop::Waiting => break Progress::Wait,
                Stop::Close => self.closing = true,
                Stop::WriteFull => break Progress::Full,
                Stop::NeedInput if self.input_ended || self.drained => break Progress::Idle,
                Stop::NeedInput => self.fill()?,
            }
        };
        self.count(&REQUESTS, served);
        Ok(progress)
    }

    /// The second half of [`drive`](Self::drive), once the service has
    /// committed: sends the responses `progress` (from
    /// [`serve_input`](Self::serve_input)) left, and reports `Done` when the
    /// connection has finished.
    pub fn send_output(&mut self, progress: Progress, committed: &Committed) -> io::Result<Progress> {
        self.flush(committed)?;
        let finished = self.closing || (self.input_ended && progress == Progress::Idle);
        if finished && !self.has_pending_output() {
            return Ok(Progress::Done);
        }
        if progress == Progress::Full {
            return Ok(match self.write.is_full() {
                // Wait for the client to read (a writable event) first.
                true => Progress::Idle,
                // Room again, perhaps because the client read everything
                // since serving stopped: no writable event will come, so
                // go on after the others' turn.
                false => Progress::Yield,
            });
        }
        Ok(progress)
    }

    /// The other second half of [`drive`](Self::drive), when the commit
    /// failed: replaces the replies that acknowledged writes with the
    /// service's error replies (see [`IfCommitFails`](petrel_protocol::IfCommitFails)) and sends
    /// as [`send_output`](Self::send_output) does. Gives back `error` when a
    /// reply cannot be replaced: the caller closes the connection.
    pub fn send_after_failed_commit<P: Protocol<State = T>, V: Service<P>>(
        &mut self,
        protocol: &P,
        service: &mut V,
        progress: Progress,
        error: io::Error,
    ) -> io::Result<Progress> {
        let withdrawn =
            self.uncommitted.withdraw(&mut self.write, |note, out| match service.failed_reply(note) {
                Some(reply) => {
                    protocol.compose(&reply, out);
                    true
                }
                None => false,
            });
        match withdrawn {
            true => self.send_output(progress, &Committed::nothing_left_uncommitted()),
            false => Err(error),
        }
    }

    /// Serves buffered requests until input runs out, `max_requests` are served,
    /// the write buffer is full, or the connection must close.
    fn serve<P: Protocol<State = T>, V: Service<P>>(
        &mut self,
        protocol: &P,
        service: &mut V,
        max_requests: usize,
        served: &mut usize,
    ) -> Stop {
        loop {
            if *served >= max_requests {
                return Stop::RequestLimit;
            }
            if self.write.is_full() {
                return Stop::WriteFull;
            }
            if self.unfinished.is_pending() {
                // One part, then the worker's other connections: a part
                // holds hundreds of lines, each as much work as a request.
                return match self.unfinished.compose_next(service, self.write.tail()) {
                    // A stream of events ends when its client leaves.
                    Streamed::Later if self.peer_closed || self.input_ended => Stop::Close,
                    Streamed::Later => Stop::Waiting,
                    Streamed::More | Streamed::Complete => Stop::PartComposed,
                };
            }
            if self.discard > 0 {
                let dropped = self.discard.min(self.read.len() as u64);
                self.read.consume(dropped as usize);
                self.discard -= dropped;
            }
            if self.read.is_empty() {
                return Stop::NeedInput;
            }
            // The request borrows the read buffer, so act on what happened
            // only once the borrow has ended.
            let outcome = match protocol.parse(&mut self.state, self.read.bytes()) {
                Ok(parsed) => {
                    let composed_from = self.write.len();
                    let Executed { response, if_commit_fails, stream } = service.execute(parsed.message);
                    let flow = protocol.compose(&response, self.write.tail());
                    let reply = composed_from..self.write.len();
                    self.uncommitted.note(reply, if_commit_fails);
                    self.unfinished.begin(stream);
                    Outcome::Served { consumed: parsed.consumed, flow }
                }
                Err(ParseError::Incomplete) => Outcome::Incomplete,
                Err(ParseError::Invalid { error, recovery }) => {
                    protocol.compose_error(&error, self.write.tail());
                    Outcome::Rejected(recovery)
                }
            };
            match outcome {
                Outcome::Served { consumed, flow } => {
                    // A request may be served before all of it has arrived
                    // (its body refused unread): drop the rest as it comes.
                    let buffered = consumed.min(self.read.len());
                    self.read.consume(buffered);
                    self.discard = (consumed - buffered) as u64;
                    *served += 1;
                    if flow == Flow::Close {
                        return Stop::Close;
                    }
                }
                Outcome::Incomplete if self.read.is_full() => {
                    // The request cannot fit: the protocol's own limits should
                    // have rejected it, so this is the last line of defence.
                    self.count(&REQUEST_OVERFLOWS, 1);
                    log::debug!("closing a connection whose request exceeds the read buffer");
                    return Stop::Close;
                }
                Outcome::Incomplete => return Stop::NeedInput,
                Outcome::Rejected(Recovery::Skip(count)) => {
                    self.count(&REQUEST_ERRORS, 1);
                    self.discard = count;
                }
                Outcome::Rejected(Recovery::Close) => {
                    self.count(&REQUEST_ERRORS, 1);
                    return Stop::Close;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
