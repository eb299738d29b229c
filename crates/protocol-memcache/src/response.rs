//! Responses: composed by the server into its write buffer, parsed by clients.

use std::ops::Range;

use petrel_protocol::Flow;

use crate::Error;
use crate::binary::BinaryResponse;
use crate::key::encode_base64;
use crate::number::{write_i64, write_u64};

mod reply;

pub use reply::{Reply, parse_reply};

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
