//! `lru_crawler` requests: memcached's key dumps (`metadump`, `mgdump`)
//! and the crawler settings, which a store that reclaims expired items in
//! its own background work accepts and ignores. The dump's lines are the
//! service's (`petrel-memcache-service`).

use crate::Error;
use crate::number::memcached;

/// Slab classes memcached numbers (1 to 63); every item here is in class 1.
const CLASSES: std::ops::Range<u32> = 1..64;
/// The class petrel reports for every item.
const CLASS: u32 = 1;
/// Longest `lru_crawler sleep`, in microseconds.
const MAX_SLEEP: u32 = 1_000_000;

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
    /// The word that asks for it.
    pub fn name(self) -> &'static str {
        match self {
            DumpFormat::Metadump => "metadump",
            DumpFormat::Mgdump => "mgdump",
        }
    }

    /// The line after the last item.
    pub fn end(self) -> &'static [u8] {
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

#[cfg(test)]
mod tests;
