//! What an event loop and a session tell each other in a round: the
//! socket's readiness going in, the session's progress coming out, and the
//! proof of commit that lets responses leave.

use std::io;

use petrel_protocol::{Protocol, Service};

/// What the caller does with a session after [`Session::drive`](crate::Session::drive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing to do until the socket is ready again.
    Idle,
    /// `max_requests` were served with requests still buffered: drive again
    /// after giving other connections a turn.
    Yield,
    /// The connection streams a response that waits for more to compose
    /// (a log): drive again after a short pause, or when the socket is ready.
    Wait,
    /// The connection is finished: everything owed was sent. Close it.
    Done,
    /// From [`Session::serve_input`](crate::Session::serve_input) only:
    /// the write buffer filled with requests still to serve. Commit now
    /// and send (the round so far, every connection's), then drive again.
    Full,
}

/// What the event loop saw on the socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// New input may be waiting.
    pub readable: bool,
    /// The peer closed its side (input ends after what is waiting).
    pub read_closed: bool,
}

impl Readiness {
    /// Input may be waiting.
    pub const READABLE: Self = Self { readable: true, read_closed: false };
    /// No new readiness: resuming after a yield, or after the socket became
    /// writable.
    pub const RESUME: Self = Self { readable: false, read_closed: false };
}

/// Proof that the service has committed (see [`Service::commit`]) what the
/// responses composed so far acknowledge. Every write to the socket takes
/// one, so a response never leaves before the writes it acknowledges are
/// durable: this type is where that rule lives. An event loop commits once
/// for all the sessions it served in a round and sends them all with it.
#[derive(Debug)]
pub struct Committed(());

impl Committed {
    /// Commits `service`'s writes. An error means nothing they would
    /// acknowledge may be sent: the caller closes those connections.
    pub fn by<P: Protocol, V: Service<P>>(service: &mut V) -> io::Result<Self> {
        service.commit()?;
        Ok(Self(()))
    }

    /// After a failed commit, once the replies that acknowledged what it
    /// was to make durable have been replaced: what is left to send
    /// acknowledges nothing uncommitted.
    pub(crate) fn nothing_left_uncommitted() -> Self {
        Self(())
    }
}
