//! Key dumps (`lru_crawler metadump`, `mgdump`): one line per live item,
//! read from a consistent view of the store
//! ([`ItemCursor`](crate::ItemCursor)) and composed a part at a time as the
//! client reads, so that a store of any size is dumped in bounded memory
//! while the worker serves its other connections between parts.

use petrel_protocol::{ResponseStream, Streamed};
use petrel_protocol_memcache::number::{write_i64, write_u64};
use petrel_protocol_memcache::{DumpFormat, encode_base64, percent_encode};

use crate::expiry::Expiry;
use crate::store::{ItemCursor, ItemMeta, Walk};

/// A part of a dump ends once it holds this many bytes.
const PART: usize = 16 << 10;

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
