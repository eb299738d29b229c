//! Retrieval lines of any length, served as their keys arrive.
//!
//! Clients send `get` lines of thousands of keys (libmemcached's
//! `get_multi`, the Rust `memcache` crate), longer than any line limit worth
//! buffering. memcached grows its buffer for them; Petrel instead serves
//! such a line in pieces: once `max_line` bytes have arrived without a
//! newline, the keys complete so far are served (their `VALUE`s composed
//! and sent like any response) and dropped from the buffer, and the
//! connection's [`TextState`] remembers that the bytes that follow are more
//! keys of the same command. Only the last piece ends the reply with `END`.
//! Memory stays bounded by `max_line` whatever the line's length.

use memchr::{memchr, memrchr};
use petrel_protocol::line::{Line, first_line, split_word};
use petrel_protocol::{ParseError, Parsed, Recovery};

use crate::Error;
use crate::key::Keys;
use crate::number::memcached;
use crate::request::{Limits, ParseResult, Request};

/// What the text protocol remembers about a connection between requests.
#[derive(Debug, Default)]
pub struct TextState {
    /// A retrieval line too long to buffer whole, served as its keys arrive.
    pub(crate) multiget: Option<Multiget>,
}

/// A retrieval whose line is still arriving.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Multiget {
    /// `gat`'s expiration time; `None` for `get`.
    exptime: Option<i64>,
    /// `gets`, `gats`: CAS values are returned.
    cas: bool,
    /// A key was refused with `CLIENT_ERROR`: the rest of the line is
    /// dropped without a reply.
    refused: bool,
}

impl Multiget {
    fn request(self, keys: Keys<'_>, last: bool) -> Request<'_> {
        match self.exptime {
            None => Request::Get { keys, cas: self.cas, last },
            Some(exptime) => Request::GetAndTouch { exptime, keys, cas: self.cas, last },
        }
    }
}

/// `window` (the first `max_line` bytes of `input`) holds no newline: a
/// retrieval starts being served in pieces; any other line closes the
/// connection without a reply, as memcached closes it.
pub(crate) fn start<'a>(state: &mut TextState, input: &'a [u8], window: &'a [u8]) -> ParseResult<'a> {
    let (command, rest) = split_word(window);
    let (exptime, keys) = match command {
        b"get" | b"gets" => (None, rest),
        b"gat" | b"gats" => {
            let (exptime, keys) = split_word(rest);
            (Some(memcached::i32(exptime).map(i64::from)), keys)
        }
        _ => return Err(ParseError::Invalid { error: Error::LineTooLong, recovery: Recovery::Close }),
    };
    let mut multiget = Multiget { exptime: None, cas: command.ends_with(b"s"), refused: false };
    // Where the keys begin in `input`.
    let offset = keys.as_ptr() as usize - input.as_ptr() as usize;
    match exptime {
        None => {}
        Some(Some(exptime)) => multiget.exptime = Some(exptime),
        Some(None) => return refuse(state, multiget, Error::InvalidExptime, window.len()),
    }
    serve_piece(state, multiget, &input[offset..window.len()], offset)
}

/// Serves the next piece of a line begun by [`start`].
pub(crate) fn resume<'a>(
    state: &mut TextState,
    multiget: Multiget,
    input: &'a [u8],
    limits: &Limits,
) -> ParseResult<'a> {
    if let Some(Line { text: line, len: consumed }) = first_line(input, limits.max_line) {
        state.multiget = None;
        if multiget.refused {
            return Err(ParseError::Invalid {
                error: Error::NoReply,
                recovery: Recovery::Skip(consumed as u64),
            });
        }
        let line = &line[..memchr(0, line).unwrap_or(line.len())];
        return match keys(line) {
            Ok(keys) => Ok(Parsed { message: multiget.request(keys, true), consumed }),
            Err(error) => Err(ParseError::Invalid { error, recovery: Recovery::Skip(consumed as u64) }),
        };
    }
    if input.len() < limits.max_line {
        return Err(ParseError::Incomplete);
    }
    let window = &input[..limits.max_line];
    if multiget.refused {
        return Err(ParseError::Invalid {
            error: Error::NoReply,
            recovery: Recovery::Skip(window.len() as u64),
        });
    }
    serve_piece(state, multiget, window, 0)
}

/// Serves the keys of `text` (at `offset` in the buffer) up to its last
/// space; the key after it may not have arrived whole.
fn serve_piece<'a>(
    state: &mut TextState,
    multiget: Multiget,
    text: &'a [u8],
    offset: usize,
) -> ParseResult<'a> {
    let Some(space) = memrchr(b' ', text) else {
        // One token fills the whole window: no key is that long.
        return refuse(state, multiget, Error::BadCommandLine, offset + text.len());
    };
    match keys(&text[..space]) {
        Ok(keys) => {
            state.multiget = Some(multiget);
            Ok(Parsed { message: multiget.request(keys, false), consumed: offset + space + 1 })
        }
        Err(error) => refuse(state, multiget, error, offset + space + 1),
    }
}

/// Answers `error` and drops the rest of the line unanswered.
fn refuse<'a>(state: &mut TextState, multiget: Multiget, error: Error, consumed: usize) -> ParseResult<'a> {
    state.multiget = Some(Multiget { refused: true, ..multiget });
    Err(ParseError::Invalid { error, recovery: Recovery::Skip(consumed as u64) })
}

/// The keys of a piece; a piece may hold none.
fn keys(text: &[u8]) -> Result<Keys<'_>, Error> {
    match Keys::parse(text) {
        Err(Error::UnknownCommand) => Ok(Keys::NONE),
        keys => keys,
    }
}
