//! How an item is laid out in RocksDB: a fixed header, then the value.
//!
//! ```text
//! 0      1       5        13     21          29            37      38
//! | ver | flags | expiry | cas  | stored_at | last_access | state | value ...
//! ```
//!
//! Integers are little-endian. `expiry` is a Unix time, 0 for never.
//! `stored_at` (when the value was last written) decides `flush_all` with a
//! delay; `last_access` and `state` serve the meta `h`, `l`, `X`, `W`, `Z`
//! flags.

use petrel_protocol_memcache::{Expiry, ItemInfo};

const VERSION: u8 = 1;
/// Bytes before the value.
pub const HEADER_LEN: usize = 38;

const STALE: u8 = 1;
const WIN_SENT: u8 = 2;
const FETCHED: u8 = 4;

/// An item's metadata, decoded from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u32,
    pub expiry: Expiry,
    pub cas: u64,
    pub stored_at: u64,
    pub last_access: u64,
    pub stale: bool,
    pub win_sent: bool,
    pub fetched: bool,
}

impl Header {
    /// A fresh item's header.
    pub fn new(flags: u32, expiry: Expiry, cas: u64, now: u64) -> Self {
        Self {
            flags,
            expiry,
            cas,
            stored_at: now,
            last_access: now,
            stale: false,
            win_sent: false,
            fetched: false,
        }
    }

    /// Decodes the header of a stored item; `None` if it is not one.
    pub fn decode(stored: &[u8]) -> Option<Self> {
        if stored.len() < HEADER_LEN || stored[0] != VERSION {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(stored[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(stored[at..at + 8].try_into().unwrap());
        let state = stored[37];
        Some(Self {
            flags: u32_at(1),
            expiry: match u64_at(5) {
                0 => Expiry::Never,
                at => Expiry::At(at),
            },
            cas: u64_at(13),
            stored_at: u64_at(21),
            last_access: u64_at(29),
            stale: state & STALE != 0,
            win_sent: state & WIN_SENT != 0,
            fetched: state & FETCHED != 0,
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn encode_into(&self, out: &mut [u8]) {
        out[0] = VERSION;
        out[1..5].copy_from_slice(&self.flags.to_le_bytes());
        let expiry = match self.expiry {
            Expiry::Never => 0,
            // A time of 0 would read back as "never"; 1 is as expired.
            Expiry::At(at) => at.max(1),
        };
        out[5..13].copy_from_slice(&expiry.to_le_bytes());
        out[13..21].copy_from_slice(&self.cas.to_le_bytes());
        out[21..29].copy_from_slice(&self.stored_at.to_le_bytes());
        out[29..37].copy_from_slice(&self.last_access.to_le_bytes());
        out[37] =
            (self.stale as u8 * STALE) | (self.win_sent as u8 * WIN_SENT) | (self.fetched as u8 * FETCHED);
    }

    /// Encodes the header followed by the value, given as `parts` to be
    /// joined, into `out` (cleared first).
    pub fn encode_with(&self, parts: &[&[u8]], out: &mut Vec<u8>) {
        out.clear();
        out.resize(HEADER_LEN, 0);
        self.encode_into(out);
        for part in parts {
            out.extend_from_slice(part);
        }
    }

    /// The metadata the protocol sees, for a value of `size` bytes.
    pub fn info(&self, size: usize) -> ItemInfo {
        ItemInfo { flags: self.flags, cas: self.cas, expiry: self.expiry, size: size as u64 }
    }
}

/// The value part of a stored item.
pub fn value(stored: &[u8]) -> &[u8] {
    &stored[HEADER_LEN..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut header = Header::new(7, Expiry::At(1_700_000_000), 42, 1_600_000_000);
        header.stale = true;
        header.fetched = true;
        let mut out = Vec::new();
        header.encode_with(&[b"val", b"ue"], &mut out);
        assert_eq!(out.len(), HEADER_LEN + 5);
        assert_eq!(Header::decode(&out), Some(header));
        assert_eq!(value(&out), b"value");
        assert_eq!(Header::decode(&out[..10]), None);
        let never = Header::new(0, Expiry::Never, 1, 1);
        never.encode_with(&[], &mut out);
        assert_eq!(Header::decode(&out).unwrap().expiry, Expiry::Never);
    }
}
