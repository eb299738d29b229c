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

use petrel_memcache_service::Expiry;
use petrel_memcache_service::ItemMeta;

const VERSION: u8 = 1;
/// Bytes before the value.
pub const HEADER_LEN: usize = 38;

const STALE: u8 = 1;
const WIN_SENT: u8 = 2;
const FETCHED: u8 = 4;

/// Decodes the header of a stored item; `None` if it is not one.
pub fn decode(stored: &[u8]) -> Option<ItemMeta> {
    if stored.len() < HEADER_LEN || stored[0] != VERSION {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(stored[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(stored[at..at + 8].try_into().unwrap());
    let state = stored[37];
    Some(ItemMeta {
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
fn encode_into(meta: &ItemMeta, out: &mut [u8]) {
    out[0] = VERSION;
    out[1..5].copy_from_slice(&meta.flags.to_le_bytes());
    let expiry = match meta.expiry {
        Expiry::Never => 0,
        // A time of 0 would read back as "never"; 1 is as expired.
        Expiry::At(at) => at.max(1),
    };
    out[5..13].copy_from_slice(&expiry.to_le_bytes());
    out[13..21].copy_from_slice(&meta.cas.to_le_bytes());
    out[21..29].copy_from_slice(&meta.stored_at.to_le_bytes());
    out[29..37].copy_from_slice(&meta.last_access.to_le_bytes());
    out[37] = (meta.stale as u8 * STALE) | (meta.win_sent as u8 * WIN_SENT) | (meta.fetched as u8 * FETCHED);
}

/// Appends to `out` the header followed by the value, given as `parts` to
/// be joined.
pub fn encode_with(meta: &ItemMeta, parts: &[&[u8]], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    encode_into(meta, &mut out[start..]);
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// The CAS value of a stored item (header and value).
pub fn cas(stored: &[u8]) -> u64 {
    u64::from_le_bytes(stored[13..21].try_into().expect("a stored item has a header"))
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
        let meta = ItemMeta {
            cas: 42,
            stale: true,
            fetched: true,
            ..ItemMeta::new(7, Expiry::At(1_700_000_000), 1_600_000_000)
        };
        let mut out = Vec::new();
        encode_with(&meta, &[b"val", b"ue"], &mut out);
        assert_eq!(out.len(), HEADER_LEN + 5);
        assert_eq!(decode(&out), Some(meta));
        assert_eq!(value(&out), b"value");
        assert_eq!(cas(&out), 42);
        assert_eq!(decode(&out[..10]), None);
        out.clear();
        encode_with(&ItemMeta::new(0, Expiry::Never, 1), &[], &mut out);
        assert_eq!(decode(&out).unwrap().expiry, Expiry::Never);
    }
}
