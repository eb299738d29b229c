//! The memcached protocols (text, meta and binary commands), sans-IO, for
//! servers, proxies and clients: bytes in, requests out; responses in,
//! bytes out. Executing requests against a store is
//! `petrel-memcache-service`'s.
//!
//! - [`Memcache`] is the [`Protocol`]: [`parse`](parse::parse) borrows keys
//!   and values from the read buffer and reports [`ParseError::Incomplete`]
//!   until a whole request (line and data block) is there, so the result
//!   does not depend on how the bytes were split across reads. A
//!   connection whose first byte is 0x80 speaks the [`binary`] protocol,
//!   as in memcached; its requests and replies are variants of the same
//!   [`Request`] and [`Response`].
//! - Clients compose with [`Request::compose`] and parse with [`parse_reply`].
//!
//! ```
//! use petrel_protocol::Protocol;
//! use petrel_protocol_memcache::{ConnectionState, Memcache, Request, Response};
//!
//! let protocol = Memcache::default();
//! let mut state = ConnectionState::default();
//! let parsed = protocol.parse(&mut state, b"delete greeting\r\n").unwrap();
//! assert!(matches!(parsed.message, Request::Delete { key: b"greeting", noreply: false }));
//! let mut out = Vec::new();
//! protocol.compose(&Response::Deleted, &mut out);
//! assert_eq!(out, b"DELETED\r\n");
//! ```

pub mod binary;
mod crawler;
mod error;
mod key;
mod meta;
mod multiget;
pub mod number;
pub mod parse;
pub mod request;
mod response;
mod slabs;
mod store_mode;
mod watch;

use metriken::{Counter, metric};
use petrel_protocol::{Flow, ParseError, Parsed, Protocol, Recovery};

pub use crawler::{CrawlerCommand, DumpFormat};
pub use error::Error;
pub use key::{Key, Keys, MAX_KEY_LEN, encode_base64, percent_encode};
pub use meta::{ArithmeticMode, MAX_OPAQUE_LEN, MetaCommand, MetaFlags, Return, Returns};
pub use multiget::TextState;
pub use request::{ITEM_OVERHEAD, Limits, ParseResult, Request, StoreCommand};
pub use response::{Hit, MetaCode, Reply, Response, ReturnFlag, parse_reply};
pub use slabs::SlabsCommand;
pub use store_mode::StoreMode;
pub use watch::WatchKinds;

/// The memcached release whose protocols Petrel serves, and against which
/// its differential tests compare it byte for byte.
pub const MEMCACHED_VERSION: &str = "1.6.18";

/// The version a memcache server built on this crate reports on its data
/// port (`version`, the binary Version, `stats`): memcached's numbers first,
/// then Petrel's, as a development build of memcached adds a suffix
/// (`1.6.18-petrel-0.1.0`). Clients read it as memcached's: libmemcached
/// parses `major.minor.micro` and fails on anything else (PHP's extension
/// then fails `getStats`), and copies at most 23 bytes of it from `stats`.
pub fn data_port_version(petrel_version: &str) -> String {
    format!("{MEMCACHED_VERSION}-petrel-{petrel_version}")
}

#[metric(
    name = "http_request_closes",
    description = "connections closed for sending an HTTP request line, as a browser tricked by a web page would"
)]
static HTTP_REQUEST_CLOSES: Counter = Counter::new();

/// The memcache protocol, with its size limits.
#[derive(Debug, Clone, Copy)]
pub struct Memcache {
    /// Value and line size limits.
    pub limits: Limits,
    /// Whether a connection may speak the binary protocol; when not, one
    /// that tries is closed.
    pub binary: bool,
}

impl Memcache {
    /// The protocol with these limits, text and binary.
    pub fn new(limits: Limits) -> Self {
        Self { limits, binary: true }
    }
}

impl Default for Memcache {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// What the protocol remembers about a connection: which protocol it
/// speaks, decided by its first byte, and the text protocol's state.
#[derive(Debug, Default)]
pub struct ConnectionState {
    speaks: Option<Speaks>,
    text: TextState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaks {
    Text,
    Binary,
}

impl Protocol for Memcache {
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;
    type Error = Error;
    type State = ConnectionState;

    fn parse<'a>(
        &self,
        state: &mut ConnectionState,
        input: &'a [u8],
    ) -> Result<Parsed<Request<'a>>, ParseError<Error>> {
        let speaks = match state.speaks {
            Some(speaks) => speaks,
            None => match input.first() {
                None => return Err(ParseError::Incomplete),
                Some(&binary::REQUEST_MAGIC) if !self.binary => {
                    return Err(ParseError::Invalid {
                        error: Error::BinaryProtocol,
                        recovery: Recovery::Close,
                    });
                }
                Some(&binary::REQUEST_MAGIC) => *state.speaks.insert(Speaks::Binary),
                Some(_) => *state.speaks.insert(Speaks::Text),
            },
        };
        match speaks {
            Speaks::Text => parse::parse(&mut state.text, input, &self.limits),
            Speaks::Binary => binary::parse(input, &self.limits),
        }
    }

    fn compose(&self, response: &Response<'_>, out: &mut Vec<u8>) -> Flow {
        response.compose(out)
    }

    fn compose_error(&self, error: &Error, out: &mut Vec<u8>) {
        if *error == Error::HttpRequest {
            HTTP_REQUEST_CLOSES.increment();
        }
        error.compose(out);
    }
}
