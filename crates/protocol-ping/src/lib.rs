//! The ping protocol: the smallest request/response protocol, used to measure
//! the baseline round-trip latency of the Petrel stack.
//!
//! A request is the line `PING` and the response is the line `PONG`; the verb
//! is case-insensitive and lines end in CRLF (a bare LF is accepted too, as
//! memcached does). Both sides are here: [`Ping`] and [`PingService`] for a
//! server, [`compose_request`] and [`parse_response`] for a client or a load
//! generator.
//!
//! ```
//! use petrel_protocol::{Protocol, Service};
//! use petrel_protocol_ping::{Ping, PingService};
//!
//! let mut out = Vec::new();
//! let parsed = Ping.parse(&mut (), b"ping\r\n").unwrap();
//! let executed = PingService.execute(parsed.message);
//! Ping.compose(&executed.response, &mut out);
//! assert_eq!(out, b"PONG\r\n");
//! ```

use metriken::{Counter, metric};
use petrel_protocol::line::{Line, first_line};
use petrel_protocol::{Executed, Flow, ParseError, Parsed, Protocol, Recovery, Service};

/// The longest request line accepted. A longer line cannot be a ping, and one
/// without a newline in sight would make the server buffer without bound.
pub const MAX_LINE: usize = 1024;

#[metric(name = "ping", description = "PING requests answered")]
static PING: Counter = Counter::new();

/// The ping protocol (server side).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ping;

/// A ping request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `PING`
    Ping,
}

/// A ping response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// `PONG`
    Pong,
}

/// What is wrong with a request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The line is not `PING`; answered `ERROR`, as memcached answers an
    /// unknown command.
    UnknownCommand,
    /// No newline within [`MAX_LINE`] bytes; answered and the connection closed.
    LineTooLong,
}

impl Protocol for Ping {
    type Request<'a> = Request;
    type Response<'a> = Response;
    type Error = Error;
    type State = ();

    fn parse(&self, _: &mut (), input: &[u8]) -> Result<Parsed<Request>, ParseError<Error>> {
        let Some(Line { text: line, len: consumed }) = first_line(input, MAX_LINE) else {
            return Err(incomplete_or_too_long(input));
        };
        if line.eq_ignore_ascii_case(b"ping") {
            Ok(Parsed { message: Request::Ping, consumed })
        } else {
            Err(ParseError::Invalid {
                error: Error::UnknownCommand,
                recovery: Recovery::Skip(consumed as u64),
            })
        }
    }

    fn compose(&self, response: &Response, out: &mut Vec<u8>) -> Flow {
        match response {
            Response::Pong => out.extend_from_slice(b"PONG\r\n"),
        }
        Flow::Continue
    }

    fn compose_error(&self, error: &Error, out: &mut Vec<u8>) {
        out.extend_from_slice(match error {
            Error::UnknownCommand => b"ERROR\r\n",
            Error::LineTooLong => b"CLIENT_ERROR line too long\r\n",
        });
    }
}

/// Answers every `PING` with `PONG`; keeps no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct PingService;

impl Service<Ping> for PingService {
    fn execute(&mut self, request: Request) -> Executed<Response> {
        match request {
            Request::Ping => {
                PING.increment();
                Executed::standing(Response::Pong)
            }
        }
    }
}

/// Appends a `PING` request to `out` (client side).
pub fn compose_request(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PING\r\n");
}

/// Parses one response from the front of `input` (client side). Anything but
/// `PONG` is returned as the error [`Error::UnknownCommand`].
pub fn parse_response(input: &[u8]) -> Result<Parsed<Response>, ParseError<Error>> {
    let Some(Line { text: line, len: consumed }) = first_line(input, MAX_LINE) else {
        return Err(incomplete_or_too_long(input));
    };
    if line == b"PONG" {
        Ok(Parsed { message: Response::Pong, consumed })
    } else {
        Err(ParseError::Invalid { error: Error::UnknownCommand, recovery: Recovery::Skip(consumed as u64) })
    }
}

fn incomplete_or_too_long(input: &[u8]) -> ParseError<Error> {
    if input.len() >= MAX_LINE {
        ParseError::Invalid { error: Error::LineTooLong, recovery: Recovery::Close }
    } else {
        ParseError::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Parsed<Request>, ParseError<Error>> {
        Ping.parse(&mut (), input)
    }

    #[test]
    fn ping_in_any_case_with_crlf_or_lf() {
        for input in [&b"PING\r\n"[..], b"ping\r\n", b"PiNg\n"] {
            let parsed = parse(input).unwrap();
            assert_eq!(parsed.message, Request::Ping);
            assert_eq!(parsed.consumed, input.len());
        }
    }

    #[test]
    fn parses_only_the_first_of_pipelined_requests() {
        let parsed = parse(b"PING\r\nPING\r\n").unwrap();
        assert_eq!(parsed.consumed, 6);
    }

    #[test]
    fn partial_line_is_incomplete() {
        for input in [&b""[..], b"P", b"PIN", b"PING", b"PING\r"] {
            assert_eq!(parse(input), Err(ParseError::Incomplete), "{input:?}");
        }
    }

    #[test]
    fn unknown_line_is_error_and_skipped() {
        for (input, len) in [(&b"PONG\r\n"[..], 6), (b"\r\n", 2), (b"PING PING\r\n", 11), (b"PINGS\n", 6)] {
            assert_eq!(
                parse(input),
                Err(ParseError::Invalid { error: Error::UnknownCommand, recovery: Recovery::Skip(len) })
            );
        }
    }

    #[test]
    fn line_without_newline_beyond_limit_closes() {
        let input = vec![b'x'; MAX_LINE];
        assert_eq!(
            parse(&input),
            Err(ParseError::Invalid { error: Error::LineTooLong, recovery: Recovery::Close })
        );
        assert_eq!(parse(&input[..MAX_LINE - 1]), Err(ParseError::Incomplete));
    }

    #[test]
    fn error_replies_match_memcached() {
        let mut out = Vec::new();
        Ping.compose_error(&Error::UnknownCommand, &mut out);
        Ping.compose_error(&Error::LineTooLong, &mut out);
        assert_eq!(out, b"ERROR\r\nCLIENT_ERROR line too long\r\n");
    }

    #[test]
    fn client_side_round_trip() {
        let mut out = Vec::new();
        compose_request(&mut out);
        let request = parse(&out).unwrap();
        let executed = PingService.execute(request.message);
        let mut wire = Vec::new();
        assert_eq!(Ping.compose(&executed.response, &mut wire), Flow::Continue);
        assert_eq!(parse_response(&wire).unwrap(), Parsed { message: Response::Pong, consumed: 6 });
        assert_eq!(parse_response(b"PON"), Err(ParseError::Incomplete));
        assert!(matches!(parse_response(b"ERROR\r\n"), Err(ParseError::Invalid { .. })));
    }
}
