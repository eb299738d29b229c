//! What can be wrong with a request, as memcached words it.

use std::fmt;

use crate::binary::BinaryError;

/// A request that cannot be served, with the reply memcached gives for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not a command: `ERROR`.
    UnknownCommand,
    /// Malformed arguments: `CLIENT_ERROR bad command line format`.
    BadCommandLine,
    /// The data block does not end in CRLF: `CLIENT_ERROR bad data chunk`.
    BadDataChunk,
    /// No end of line within the line limit, and not a retrieval: the
    /// connection closes without a reply, as memcached closes it.
    LineTooLong,
    /// A line that is no command and ends in an HTTP version: the
    /// connection closes without a reply (see `docs/security.md`).
    HttpRequest,
    /// A binary-protocol request (first byte 0x80) where the binary
    /// protocol is turned off: the connection closes rather than leave the
    /// client waiting.
    BinaryProtocol,
    /// A binary request whose first byte is not the request magic: the
    /// stream cannot be read further, and closes unanswered, as in memcached.
    BadMagic,
    /// A binary request refused with an error packet.
    Binary(BinaryError),
    /// An invalid request that asked for no reply (`noreply`), or the rest
    /// of a line already answered: nothing is sent.
    NoReply,
    /// A value over the size limit: `SERVER_ERROR object too large for cache`;
    /// the data block is swallowed so the connection stays in step.
    TooLarge,
    /// `lru_crawler sleep` longer than a second.
    SleepTooLong,
    /// `incr`/`decr` delta that is not a 64-bit unsigned number.
    InvalidDelta,
    /// An expiration time that is not a number (`touch`, `gat`, `flush_all`).
    InvalidExptime,
    /// `delete` with arguments other than `0` and `noreply`.
    BadDeleteFormat,
    /// `incr`/`decr` on a value that is not a 64-bit unsigned number.
    NonNumeric,
    /// A meta flag the command does not take.
    InvalidFlag,
    /// A meta flag given twice.
    DuplicateFlag,
    /// Any fault in the flags of `md` or `ma`, which memcached words alike.
    InvalidOrDuplicateFlag,
    /// `stats detail` without `on`, `off` or `dump`.
    DetailUsage,
    /// `watch` with the watchers' limit reached:
    /// `WATCHER_TOO_MANY log watcher limit reached`.
    TooManyWatchers,
    /// A meta flag's token is not of the right form.
    BadToken,
    /// An opaque (`O`) token longer than 32 bytes.
    OpaqueTooLong,
    /// A mode (`M`) token the command does not know.
    InvalidMode,
    /// A base64 key (`b`) that does not decode.
    BadKeyEncoding,
    /// The store failed: `SERVER_ERROR <reason>`.
    Server(&'static str),
}

impl Error {
    /// The reply line, without its CRLF; for the errors that get no reply
    /// ([`Error::answered`] false), what happened, for logs.
    pub fn message(&self) -> &'static str {
        match self {
            Error::UnknownCommand => "ERROR",
            Error::BadCommandLine => "CLIENT_ERROR bad command line format",
            Error::BadDataChunk => "CLIENT_ERROR bad data chunk",
            Error::LineTooLong => "line too long (closed)",
            Error::HttpRequest => "HTTP request line (closed)",
            Error::BinaryProtocol => "binary protocol request (closed)",
            Error::BadMagic => "binary request without its magic byte (closed)",
            Error::Binary(error) => error.status.message(),
            Error::NoReply => "invalid request with noreply (not answered)",
            Error::TooLarge => "SERVER_ERROR object too large for cache",
            Error::InvalidDelta => "CLIENT_ERROR invalid numeric delta argument",
            Error::SleepTooLong => "CLIENT_ERROR sleep must be one second or less",
            Error::InvalidExptime => "CLIENT_ERROR invalid exptime argument",
            Error::BadDeleteFormat => "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
            Error::NonNumeric => "CLIENT_ERROR cannot increment or decrement non-numeric value",
            Error::InvalidFlag => "CLIENT_ERROR invalid flag",
            Error::DuplicateFlag => "CLIENT_ERROR duplicate flag",
            Error::InvalidOrDuplicateFlag => "CLIENT_ERROR invalid or duplicate flag",
            Error::DetailUsage => "CLIENT_ERROR usage: stats detail on|off|dump",
            Error::TooManyWatchers => "WATCHER_TOO_MANY log watcher limit reached",
            Error::BadToken => "CLIENT_ERROR bad token in command line format",
            Error::OpaqueTooLong => "CLIENT_ERROR opaque token too long",
            Error::InvalidMode => "CLIENT_ERROR invalid mode for ms M token",
            Error::BadKeyEncoding => "CLIENT_ERROR error decoding key",
            Error::Server(_) => "SERVER_ERROR",
        }
    }

    /// Whether the client is sent a reply line.
    pub fn answered(&self) -> bool {
        !matches!(
            self,
            Error::LineTooLong
                | Error::HttpRequest
                | Error::BinaryProtocol
                | Error::BadMagic
                | Error::NoReply
        )
    }

    /// Appends the reply line, with its CRLF, if there is one.
    pub fn compose(&self, out: &mut Vec<u8>) {
        if !self.answered() {
            return;
        }
        if let Error::Binary(error) = self {
            return error.compose(out);
        }
        out.extend_from_slice(self.message().as_bytes());
        if let Error::Server(reason) = self {
            out.push(b' ');
            out.extend_from_slice(reason.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(reason) => write!(f, "SERVER_ERROR {reason}"),
            other => f.write_str(other.message()),
        }
    }
}

impl std::error::Error for Error {}
