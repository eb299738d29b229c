//! Replies as a client reads them: the other side of `response.rs`.

use memchr::memchr;
use petrel_protocol::line::{Line, first_line, split_word};
use petrel_protocol::{ParseError, Parsed, Recovery};

use crate::Error;
use crate::number::{parse_u32, parse_u64};

/// One reply line (with its data block, if any), as a client reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `VALUE <key> <flags> <bytes> [<cas>]` and its data.
    Value {
        /// The key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// CAS value, from `gets`/`gats`.
        cas: Option<u64>,
        /// The data.
        data: &'a [u8],
    },
    /// `END`
    End,
    /// `STORED`
    Stored,
    /// `NOT_STORED`
    NotStored,
    /// `EXISTS`
    Exists,
    /// `NOT_FOUND`
    NotFound,
    /// `DELETED`
    Deleted,
    /// `TOUCHED`
    Touched,
    /// `OK`
    Ok,
    /// A number.
    Number(u64),
    /// `VERSION <text>`
    Version(&'a [u8]),
    /// `STAT <name> <value>`
    Stat {
        /// The name.
        name: &'a [u8],
        /// The value, as text.
        value: &'a [u8],
    },
    /// A meta reply: its two-letter code, its flags as text, and the data
    /// block of a `VA`.
    Meta {
        /// `VA`, `HD`, `EN`, `NF`, `NS`, `EX` or `MN`.
        code: [u8; 2],
        /// The flags, as text.
        flags: &'a [u8],
        /// The data block (`VA` only).
        data: Option<&'a [u8]>,
    },
    /// `ME <text>`
    MetaDebug(&'a [u8]),
    /// A maintenance command's status line (`BADCLASS ...`, `NOSPARE ...`,
    /// `WATCHER_TOO_MANY ...`), whole.
    Status(&'a [u8]),
    /// `ERROR`
    Error,
    /// `CLIENT_ERROR <message>`
    ClientError(&'a [u8]),
    /// `SERVER_ERROR <message>`
    ServerError(&'a [u8]),
}

/// Parses one reply from the front of `input` (client side).
pub fn parse_reply(input: &[u8]) -> Result<Parsed<Reply<'_>>, ParseError<Error>> {
    let Some(Line { text: line, len: line_len }) = first_line(input, usize::MAX) else {
        return Err(ParseError::Incomplete);
    };
    let bad = ParseError::Invalid { error: Error::BadCommandLine, recovery: Recovery::Skip(line_len as u64) };
    let (word, rest) = split_word(line);
    let data = |len: u64| -> Result<(&[u8], usize), ParseError<Error>> {
        let end = line_len + len as usize;
        if input.len() < end + 2 {
            return Err(ParseError::Incomplete);
        }
        Ok((&input[line_len..end], end + 2))
    };
    let (reply, consumed) = match word {
        b"VALUE" => {
            let mut parts = rest.split(|&b| b == b' ');
            let key = parts.next().ok_or(bad.clone())?;
            let flags = parts.next().and_then(parse_u32).ok_or(bad.clone())?;
            let len = parts.next().and_then(parse_u64).ok_or(bad.clone())?;
            let cas = match parts.next() {
                Some(cas) => Some(parse_u64(cas).ok_or(bad.clone())?),
                None => None,
            };
            let (data, consumed) = data(len)?;
            (Reply::Value { key, flags, cas, data }, consumed)
        }
        b"VA" => {
            let (len, flags) = split_word(rest);
            let len = parse_u64(len).ok_or(bad.clone())?;
            let (data, consumed) = data(len)?;
            (Reply::Meta { code: *b"VA", flags, data: Some(data) }, consumed)
        }
        b"HD" | b"EN" | b"NF" | b"NS" | b"EX" | b"MN" => {
            (Reply::Meta { code: [word[0], word[1]], flags: rest, data: None }, line_len)
        }
        b"ME" => (Reply::MetaDebug(rest), line_len),
        b"END" => (Reply::End, line_len),
        b"STORED" => (Reply::Stored, line_len),
        b"NOT_STORED" => (Reply::NotStored, line_len),
        b"EXISTS" => (Reply::Exists, line_len),
        b"NOT_FOUND" => (Reply::NotFound, line_len),
        b"DELETED" => (Reply::Deleted, line_len),
        b"TOUCHED" => (Reply::Touched, line_len),
        b"OK" => (Reply::Ok, line_len),
        b"BADCLASS" | b"NOTSTARTED" | b"NOSPARE" | b"SAME" | b"BUSY" | b"WATCHER_TOO_MANY" => {
            (Reply::Status(line), line_len)
        }
        b"VERSION" => (Reply::Version(rest), line_len),
        b"STAT" => {
            let space = memchr(b' ', rest).ok_or(bad.clone())?;
            (Reply::Stat { name: &rest[..space], value: &rest[space + 1..] }, line_len)
        }
        b"ERROR" => (Reply::Error, line_len),
        b"CLIENT_ERROR" => (Reply::ClientError(rest), line_len),
        b"SERVER_ERROR" => (Reply::ServerError(rest), line_len),
        _ => match parse_u64(line) {
            Some(number) => (Reply::Number(number), line_len),
            None => return Err(bad),
        },
    };
    Ok(Parsed { message: reply, consumed })
}
