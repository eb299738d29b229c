//! `lru_crawler`: memcached's key dumps (`metadump`, `mgdump`) and the
//! crawler settings, which a store that reclaims expired items in its own
//! background work accepts and ignores.
//!
//! A dump is one line per live item, read from a consistent view of the
//! store ([`ItemCursor`]) and composed a part at a time as the client reads
//! ([`KeyDump`]), so that a store of any size is dumped in bounded memory
//! while the worker serves its other connections between parts.

use petrel_protocol::{ResponseStream, Streamed};

use crate::Error;
use crate::expiry::Expiry;
use crate::key::{encode_base64, percent_encode};
use crate::number::{memcached, write_i64, write_u64};
use crate::rules::ItemMeta;

/// Slab classes memcached numbers (1 to 63); every item here is in class 1.
const CLASSES: std::ops::Range<u32> = 1..64;
/// The class petrel reports for every item.
const CLASS: u32 = 1;
/// Longest `lru_crawler sleep`, in microseconds.
const MAX_SLEEP: u32 = 1_000_000;
/// A part of a dump ends once it holds this many bytes.
const PART: usize = 16 << 10;

/// An `lru_crawler` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlerCommand {
    /// `metadump` or `mgdump` of classes that hold every item (`all`,
    /// `hash`, or a list naming class 1).
    Dump(DumpFormat),
    /// A dump of classes that hold no item: only its end.
    EmptyDump(DumpFormat),
    /// `crawl`, `sleep`, `tocrawl`, `enable`, `disable`: `OK`.
    Accepted,
    /// A class list memcached refuses: `BADCLASS invalid class id`.
    BadClass,
    /// A class list naming no class (`,`): `NOTSTARTED no items to crawl`.
    NotStarted,
}

/// The line a dump gives per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `key=<urlencoded> exp=<unix|-1> la=<unix> cas=<n> fetch=<yes|no> cls=1 size=<n>`, then `END`.
    Metadump,
    /// `mg <key>` (`mg <base64> b` for a key that is not plain text), then `EN`.
    Mgdump,
}

impl DumpFormat {
    fn name(self) -> &'static str {
        match self {
            DumpFormat::Metadump => "metadump",
            DumpFormat::Mgdump => "mgdump",
        }
    }

    /// The line after the last item.
    fn end(self) -> &'static [u8] {
        match self {
            DumpFormat::Metadump => b"END\r\n",
            DumpFormat::Mgdump => b"EN\r\n",
        }
    }
}

impl CrawlerCommand {
    /// Parses the words after `lru_crawler`, as memcached 1.6 does.
    pub(crate) fn parse(words: &[&[u8]]) -> Result<Self, Error> {
        let number = |word: &[u8]| memcached::u32(word).ok_or(Error::BadCommandLine);
        match *words {
            [b"metadump", classes] => Ok(Self::dump(DumpFormat::Metadump, classes)),
            [b"mgdump", classes] => Ok(Self::dump(DumpFormat::Mgdump, classes)),
            [b"crawl", classes] => Ok(match Self::dump(DumpFormat::Metadump, classes) {
                refused @ (Self::BadClass | Self::NotStarted) => refused,
                _ => Self::Accepted,
            }),
            [b"sleep", microseconds] if number(microseconds)? > MAX_SLEEP => Err(Error::SleepTooLong),
            [b"sleep", _] | [b"enable"] | [b"disable"] => Ok(Self::Accepted),
            [b"tocrawl", items] => number(items).map(|_| Self::Accepted),
            _ => Err(Error::UnknownCommand),
        }
    }

    fn dump(format: DumpFormat, classes: &[u8]) -> Self {
        if classes == b"all" || classes == b"hash" {
            return Self::Dump(format);
        }
        let (mut named, mut holds_items) = (false, false);
        for class in classes.split(|&byte| byte == b',').filter(|class| !class.is_empty()) {
            match memcached::u32(class) {
                Some(class) if CLASSES.contains(&class) => holds_items |= class == CLASS,
                _ => return Self::BadClass,
            }
            named = true;
        }
        match (named, holds_items) {
            (false, _) => Self::NotStarted,
            (true, true) => Self::Dump(format),
            (true, false) => Self::EmptyDump(format),
        }
    }

    /// The request's wire form, for clients.
    pub(crate) fn compose(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"lru_crawler ");
        match self {
            Self::Dump(format) => {
                out.extend_from_slice(format.name().as_bytes());
                out.extend_from_slice(b" all");
            }
            Self::EmptyDump(format) => {
                out.extend_from_slice(format.name().as_bytes());
                out.extend_from_slice(b" 2");
            }
            Self::Accepted => out.extend_from_slice(b"enable"),
            Self::BadClass => out.extend_from_slice(b"metadump 0"),
            Self::NotStarted => out.extend_from_slice(b"metadump ,"),
        }
    }
}

/// Live items of a store, a part at a time, from a view fixed when the
/// cursor was made: what a dump reads.
pub trait ItemCursor: Send {
    /// Calls `visit` with the items live at `now` (key, metadata, value
    /// length), in order, until `visit` answers false (the part is full:
    /// the next part goes on after that item) or no item is left
    /// ([`Walk::End`]). A cursor may also end a part early, after looking
    /// at a bounded number of entries that are no live item (expired,
    /// flushed), so that its worker serves others meanwhile. Between parts a
    /// cursor holds nothing that pins the store's files (no open iterator):
    /// a dump whose client stops reading holds no disk.
    fn next_part(&mut self, now: u64, visit: &mut dyn FnMut(&[u8], &ItemMeta, usize) -> bool) -> Walk;
}

/// Whether a cursor has items left after a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Ask for the next part.
    More,
    /// No item left.
    End,
}

/// A dump being composed: a line per item the cursor gives, then the end.
pub struct KeyDump {
    items: Box<dyn ItemCursor>,
    format: DumpFormat,
    now: u64,
}

impl KeyDump {
    /// A dump of `items` as they are at `now`.
    pub fn new(items: Box<dyn ItemCursor>, format: DumpFormat, now: u64) -> Self {
        Self { items, format, now }
    }
}

impl ResponseStream for KeyDump {
    fn compose_next(&mut self, out: &mut Vec<u8>) -> Streamed {
        let part_ends = out.len() + PART;
        let format = self.format;
        let walked = self.items.next_part(self.now, &mut |key, meta, value_len| {
            compose_line(format, key, meta, value_len, out);
            out.len() < part_ends
        });
        match walked {
            Walk::More => Streamed::More,
            Walk::End => {
                out.extend_from_slice(format.end());
                Streamed::Complete
            }
        }
    }
}

/// One item's line.
fn compose_line(format: DumpFormat, key: &[u8], meta: &ItemMeta, value_len: usize, out: &mut Vec<u8>) {
    match format {
        DumpFormat::Metadump => {
            out.extend_from_slice(b"key=");
            percent_encode(key, |piece| out.extend_from_slice(piece));
            out.extend_from_slice(b" exp=");
            match meta.expiry {
                Expiry::Never => out.extend_from_slice(b"-1"),
                Expiry::At(at) => write_i64(out, at as i64),
            }
            out.extend_from_slice(b" la=");
            write_u64(out, meta.last_access.max(meta.stored_at));
            out.extend_from_slice(b" cas=");
            write_u64(out, meta.cas);
            out.extend_from_slice(if meta.fetched { b" fetch=yes" } else { b" fetch=no" });
            out.extend_from_slice(b" cls=1 size=");
            write_u64(out, memcached_item_size(key.len(), value_len, meta.flags) as u64);
            // memcached ends these lines with a bare newline.
            out.push(b'\n');
        }
        DumpFormat::Mgdump if key.iter().all(|&byte| byte.is_ascii_graphic()) => {
            out.extend_from_slice(b"mg ");
            out.extend_from_slice(key);
            out.extend_from_slice(b"\r\n");
        }
        DumpFormat::Mgdump => {
            out.extend_from_slice(b"mg ");
            encode_base64(key, out);
            out.extend_from_slice(b" b\r\n");
        }
    }
}

/// The bytes memcached 1.6 gives an item (its `size=`): a 56-byte header
/// with the CAS, the key and a terminating byte, the flags unless they are
/// 0, and the value with its line end.
fn memcached_item_size(key_len: usize, value_len: usize, flags: u32) -> usize {
    56 + key_len + 1 + if flags == 0 { 0 } else { 4 } + value_len + 2
}

#[cfg(test)]
mod tests;
