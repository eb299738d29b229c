//! The seam between Petrel's server core and its wire protocols.
//!
//! A protocol is sans-IO: it turns bytes into requests ([`Protocol::parse`]) and
//! responses into bytes ([`Protocol::compose`]). A [`Service`] executes requests
//! against whatever state the server keeps (nothing for ping, a store for
//! memcache). The server core owns the sockets and drives the three steps:
//!
//! ```text
//! read buffer --parse--> Request --execute--> Response --compose--> write buffer
//! ```
//!
//! Requests borrow from the read buffer and responses may borrow from the
//! service (a value read from the store), so nothing is copied on the way
//! through except into the write buffer. The text protocols find their
//! lines and words with [`mod@line`].

pub mod line;

/// A message parsed from the front of a buffer, with the number of bytes it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The request (or, on a client, the response).
    pub message: T,
    /// How many bytes of the buffer it occupied. May be larger than the
    /// buffer: a request whose body is refused unread (a value too large to
    /// accept) is answered from its header, and the rest of the body is
    /// dropped as it arrives.
    pub consumed: usize,
}

/// Why the front of a buffer did not yield a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError<E> {
    /// The bytes so far are the start of a valid request: read more. This is
    /// the normal case for a request split across reads, not a failure.
    Incomplete,
    /// The bytes are not a valid request. The server replies with the
    /// protocol's error message and then recovers as told.
    Invalid {
        /// The protocol's description of the fault, composed as the reply.
        error: E,
        /// How the stream gets back in step.
        recovery: Recovery,
    },
}

/// How a connection gets back in step after invalid input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Drop this many bytes and go on with the next request. The count may be
    /// larger than what has been read so far (a value too large to accept is
    /// still swallowed whole, as memcached does); the rest is discarded as it
    /// arrives.
    Skip(u64),
    /// The stream cannot be resynchronised (a line with no end in sight):
    /// send the reply, then close the connection.
    Close,
}

/// What the connection does after a response has been composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next request.
    Continue,
    /// Send what has been composed, then close (the client said `quit`).
    Close,
}

/// What executing one request gives the session: the reply, what becomes
/// of it if the commit that follows fails, and the rest of a reply too long
/// to compose at once.
pub struct Executed<R> {
    /// The reply, composed at once.
    pub response: R,
    /// What becomes of the reply if the next commit fails.
    pub if_commit_fails: IfCommitFails,
    /// The rest of the reply (a key dump, a log), which the session
    /// composes part by part as its client reads
    /// ([`Service::compose_next`]).
    pub stream: Option<Box<dyn ResponseStream>>,
}

impl<R> Executed<R> {
    /// A reply that stands whatever becomes of the commit, with nothing
    /// more to stream: the whole answer of a service whose commit cannot
    /// fail.
    pub fn standing(response: R) -> Self {
        Self { response, if_commit_fails: IfCommitFails::ReplyStands, stream: None }
    }
}

/// What becomes of a request's reply if the commit that follows it fails
/// (see [`Service::commit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfCommitFails {
    /// The reply acknowledges nothing the commit makes durable: it stands.
    ReplyStands,
    /// Replace it with the reply [`Service::failed_reply`] gives for this
    /// note, asked once the commit has failed, so the replacement can say
    /// why (for memcache, `SERVER_ERROR` with the store's reason). The note
    /// is the service's own: what it needs to know of the request (which
    /// protocol it spoke, its opaque).
    Replace(u64),
    /// The reply cannot be replaced: close the connection without sending
    /// it.
    Close,
}

/// A wire protocol: parsing requests and composing responses, without I/O.
///
/// One value is shared (by reference) among all worker threads, so it holds
/// only configuration such as size limits.
pub trait Protocol: Send + Sync + 'static {
    /// A parsed request, borrowing from the read buffer.
    type Request<'a>;
    /// A response, possibly borrowing from the service that produced it.
    type Response<'a>;
    /// What is wrong with invalid input; composed as the error reply.
    type Error;
    /// What the protocol remembers about one connection from one request to
    /// the next (a request line arriving in pieces too long to buffer
    /// whole); `()` for a protocol that remembers nothing. Each connection
    /// owns one, starting from the default.
    type State: Default + Send + 'static;

    /// Parses one request from the front of `input`, the unparsed bytes of
    /// the connection whose state is `state`. A parse that reports
    /// [`ParseError::Incomplete`] is retried with more bytes, so it must
    /// leave `state` as it found it.
    fn parse<'a>(
        &self,
        state: &mut Self::State,
        input: &'a [u8],
    ) -> Result<Parsed<Self::Request<'a>>, ParseError<Self::Error>>;

    /// Appends the wire form of `response` to `out`.
    fn compose(&self, response: &Self::Response<'_>, out: &mut Vec<u8>) -> Flow;

    /// Appends the reply for invalid input to `out`.
    fn compose_error(&self, error: &Self::Error, out: &mut Vec<u8>);
}

/// Executes requests of protocol `P`. Each worker thread owns one service, so a
/// service needs no locking of its own; state shared among workers (a store)
/// sits behind the service and brings its own concurrency control.
pub trait Service<P: Protocol>: Send + 'static {
    /// Executes one request. The response may borrow from the service, for
    /// example a value held in a scratch buffer until it is composed.
    fn execute<'s>(&'s mut self, request: P::Request<'_>) -> Executed<P::Response<'s>>;

    /// Makes durable what the requests executed since the last call changed.
    /// Called before their responses leave, so a response never acknowledges
    /// what a crash could still lose; a worker calls it once for all the
    /// requests of a round of events, so that a store can append to its log
    /// once for many writes. An error means the pending responses must not be
    /// sent. Nothing to do by default.
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// After a failed commit, the reply that replaces one noted
    /// [`IfCommitFails::Replace`]`(note)`; `None` closes the connection.
    fn failed_reply(&mut self, _note: u64) -> Option<P::Response<'_>> {
        None
    }

    /// Composes the next part of `rest`, a stream this service gave
    /// ([`Executed::stream`]), into `out`. A stream that needs
    /// the service to go on (the keys of a retrieval not yet fetched from
    /// its store) is served here; by default the stream composes alone.
    fn compose_next(&mut self, rest: &mut dyn ResponseStream, out: &mut Vec<u8>) -> Streamed {
        rest.compose_next(out)
    }

    /// Told when one of the worker's client connections opens or closes
    /// (to log it, say). Nothing by default.
    fn connection_event(&mut self, _event: ConnectionEvent) {}
}

/// A client connection opening or closing ([`Service::connection_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionEvent {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Whether the connection runs TLS.
    pub tls: bool,
    /// `None` when it opened; why it closed otherwise.
    pub closed: Option<CloseReason>,
}

/// Why a connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client quit or closed its side.
    Normal,
    /// An I/O or protocol error.
    Error,
    /// Silent past the idle timeout.
    IdleTimeout,
    /// The server is stopping.
    Shutdown,
}

impl CloseReason {
    /// memcached's word for it (`watch connevents`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Error => "error",
            Self::IdleTimeout => "idle_timeout",
            Self::Shutdown => "shutdown",
        }
    }
}

/// The rest of a response composed in parts ([`Executed::stream`]).
/// The session asks for the next part whenever its write buffer has room,
/// and serves the connection's next request only once the last part is
/// composed: the response may be as long as it needs while the buffers
/// stay bounded, and other connections are served between parts.
pub trait ResponseStream: Send + std::any::Any {
    /// Appends the next part, of a few kilobytes, to `out`.
    fn compose_next(&mut self, out: &mut Vec<u8>) -> Streamed;
}

/// Whether a [`ResponseStream`] has more to compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed {
    /// Ask again.
    More,
    /// Nothing more for now (a stream of events, such as a log): ask again
    /// after a short pause. Such a stream ends when its client leaves.
    Later,
    /// The response is complete.
    Complete,
}
