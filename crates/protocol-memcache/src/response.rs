//! Responses: composed by the server into its write buffer, parsed by clients.

use std::ops::Range;

use memchr::memchr;
use petrel_protocol::{Flow, ParseError, Parsed, Recovery};

use crate::Error;
use crate::binary::BinaryResponse;
use crate::key::encode_base64;
use crate::number::{parse_u32, parse_u64, write_i64, write_u64};

/// One item found by a retrieval; its key and value are ranges of the
/// response's byte store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The key's bytes.
    pub key: Range<usize>,
    /// The value's bytes.
    pub value: Range<usize>,
    /// Client flags.
    pub flags: u32,
    /// CAS value.
    pub cas: u64,
}

/// The status of a meta response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCode {
    /// `VA`: a value follows.
    Value,
    /// `HD`: success, no value.
    Done,
    /// `EN`: miss.
    Miss,
    /// `NF`: not found.
    NotFound,
    /// `NS`: not stored.
    NotStored,
    /// `EX`: CAS mismatch.
    Exists,
    /// `MN`: the no-op's answer.
    Noop,
}

impl MetaCode {
    fn code(self) -> &'static [u8] {
        match self {
            MetaCode::Value => b"VA",
            MetaCode::Done => b"HD",
            MetaCode::Miss => b"EN",
            MetaCode::NotFound => b"NF",
            MetaCode::NotStored => b"NS",
            MetaCode::Exists => b"EX",
            MetaCode::Noop => b"MN",
        }
    }
}

/// A flag returned in a meta response, in the order the request gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnFlag {
    /// `b`: the returned key is base64.
    Base64,
    /// `c<cas>`
    Cas(u64),
    /// `f<flags>`
    Flags(u32),
    /// `h0`/`h1`: fetched before.
    Hit(bool),
    /// `k<key>`: a range of the response's bytes, base64-encoded if `true`.
    Key(Range<usize>, bool),
    /// `l<seconds>` since last access.
    LastAccess(u64),
    /// `O<opaque>`: a range of the response's bytes.
    Opaque(Range<usize>),
    /// `s<size>`
    Size(u64),
    /// `t<seconds>`, -1 for no expiry.
    Ttl(i64),
    /// `W`: won the recache.
    Won,
    /// `X`: stale.
    Stale,
    /// `Z`: a win was already sent.
    AlreadyWon,
}

/// A memcache response. Byte ranges point into `bytes`, which the service
/// that produced the response owns and reuses between requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// `VALUE <key> <flags> <bytes> [<cas>]` per hit, then `END`.
    Values {
        /// The items found, in request order.
        hits: &'a [Hit],
        /// Keys and values.
        bytes: &'a [u8],
        /// Whether CAS values are shown (`gets`, `gats`).
        cas: bool,
        /// Whether `END` follows: not for a piece of a line still arriving
        /// (see [`Request::Get`](crate::Request::Get)).
        last: bool,
    },
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
    /// A number (`incr`, `decr`).
    Number(u64),
    /// `OK`
    Ok,
    /// `RESET`
    Reset,
    /// `BADCLASS invalid class id` (`lru_crawler`).
    BadClass,
    /// `NOTSTARTED no items to crawl` (`lru_crawler` naming no class).
    NotStarted,
    /// A status line of a maintenance command, as memcached words it
    /// (`slabs`: `NOSPARE source class has no spare pages`).
    Status(&'static str),
    /// `VERSION <version>`
    Version(&'a str),
    /// `STAT` lines, then `END`.
    Stats(&'a [u8]),
    /// A meta response.
    Meta {
        /// Its status.
        code: MetaCode,
        /// Flags to return.
        flags: &'a [ReturnFlag],
        /// The value (with `VA`), a range of `bytes`.
        value: Option<Range<usize>>,
        /// Keys, opaques and values.
        bytes: &'a [u8],
    },
    /// `ME <key> <k>=<v>*`: the text after `ME `.
    MetaDebug(&'a [u8]),
    /// An error reply.
    Error(Error),
    /// Nothing (`noreply`, quiet mode).
    Silent,
    /// Nothing, then close (`quit`).
    Quit,
    /// A binary-protocol reply.
    Binary(BinaryResponse<'a>),
}

impl Response<'_> {
    /// Appends the response's wire form to `out`.
    pub fn compose(&self, out: &mut Vec<u8>) -> Flow {
        let line = |out: &mut Vec<u8>, text: &[u8]| {
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        };
        match self {
            Response::Values { hits, bytes, cas, last } => {
                for hit in hits.iter() {
                    out.extend_from_slice(b"VALUE ");
                    out.extend_from_slice(&bytes[hit.key.clone()]);
                    out.push(b' ');
                    write_u64(out, hit.flags as u64);
                    out.push(b' ');
                    write_u64(out, hit.value.len() as u64);
                    if *cas {
                        out.push(b' ');
                        write_u64(out, hit.cas);
                    }
                    out.extend_from_slice(b"\r\n");
                    line(out, &bytes[hit.value.clone()]);
                }
                if *last {
                    line(out, b"END");
                }
            }
            Response::Stored => line(out, b"STORED"),
            Response::NotStored => line(out, b"NOT_STORED"),
            Response::Exists => line(out, b"EXISTS"),
            Response::NotFound => line(out, b"NOT_FOUND"),
            Response::Deleted => line(out, b"DELETED"),
            Response::Touched => line(out, b"TOUCHED"),
            Response::Number(value) => {
                write_u64(out, *value);
                out.extend_from_slice(b"\r\n");
            }
            Response::Ok => line(out, b"OK"),
            Response::Reset => line(out, b"RESET"),
            Response::BadClass => line(out, b"BADCLASS invalid class id"),
            Response::NotStarted => line(out, b"NOTSTARTED no items to crawl"),
            Response::Status(status) => line(out, status.as_bytes()),
            Response::Version(version) => {
                out.extend_from_slice(b"VERSION ");
                line(out, version.as_bytes());
            }
            Response::Stats(lines) => {
                out.extend_from_slice(lines);
                line(out, b"END");
            }
            Response::Meta { code, flags, value, bytes } => {
                out.extend_from_slice(code.code());
                if let Some(value) = value {
                    out.push(b' ');
                    write_u64(out, value.len() as u64);
                }
                for flag in flags.iter() {
                    out.push(b' ');
                    compose_flag(flag, bytes, out);
                }
                out.extend_from_slice(b"\r\n");
                if let Some(value) = value {
                    line(out, &bytes[value.clone()]);
                }
            }
            Response::MetaDebug(text) => {
                out.extend_from_slice(b"ME ");
                line(out, text);
            }
            Response::Error(error) => error.compose(out),
            Response::Silent => {}
            Response::Quit => return Flow::Close,
            Response::Binary(response) => return response.compose(out),
        }
        Flow::Continue
    }
}

fn compose_flag(flag: &ReturnFlag, bytes: &[u8], out: &mut Vec<u8>) {
    match flag {
        ReturnFlag::Base64 => out.push(b'b'),
        ReturnFlag::Cas(cas) => {
            out.push(b'c');
            write_u64(out, *cas);
        }
        ReturnFlag::Flags(flags) => {
            out.push(b'f');
            write_u64(out, *flags as u64);
        }
        ReturnFlag::Hit(hit) => out.extend_from_slice(if *hit { b"h1" } else { b"h0" }),
        ReturnFlag::Key(key, base64) => {
            out.push(b'k');
            if *base64 {
                encode_base64(&bytes[key.clone()], out);
            } else {
                out.extend_from_slice(&bytes[key.clone()]);
            }
        }
        ReturnFlag::LastAccess(seconds) => {
            out.push(b'l');
            write_u64(out, *seconds);
        }
        ReturnFlag::Opaque(opaque) => {
            out.push(b'O');
            out.extend_from_slice(&bytes[opaque.clone()]);
        }
        ReturnFlag::Size(size) => {
            out.push(b's');
            write_u64(out, *size);
        }
        ReturnFlag::Ttl(ttl) => {
            out.push(b't');
            write_i64(out, *ttl);
        }
        ReturnFlag::Won => out.push(b'W'),
        ReturnFlag::Stale => out.push(b'X'),
        ReturnFlag::AlreadyWon => out.push(b'Z'),
    }
}

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
    let Some(newline) = memchr(b'\n', input) else { return Err(ParseError::Incomplete) };
    let line_len = newline + 1;
    let line = input[..newline].strip_suffix(b"\r").unwrap_or(&input[..newline]);
    let bad = ParseError::Invalid { error: Error::BadCommandLine, recovery: Recovery::Skip(line_len as u64) };
    let (word, rest) = match memchr(b' ', line) {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &[][..]),
    };
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
            let (len, flags) = match memchr(b' ', rest) {
                Some(space) => (&rest[..space], &rest[space + 1..]),
                None => (rest, &[][..]),
            };
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
