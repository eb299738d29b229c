//! The read path: what the stored bytes under a key are to the protocol,
//! and fetches that change nothing, answered from the item cache when it
//! holds the item and without a lock.

use petrel_memcache_service::ItemMeta;
use petrel_memcache_service::rules::{self, Liveness};
use petrel_memcache_service::{FetchRequest, Fetched, StorageError};

use crate::failure::read_failure;
use crate::item::{self, HEADER_LEN};
use crate::item_cache::ReadCounts;
use crate::{RocksStorage, key_hash};

/// An item as a read finds it.
pub(crate) enum Lookup<'a> {
    /// Live: its metadata and its stored bytes (header and value), pinned.
    Live(ItemMeta, rocksdb::DBPinnableSlice<'a>),
    /// Never stored, deleted, flushed or evicted.
    Missing,
    /// Stored, but past its expiry.
    Expired,
}

impl RocksStorage {
    /// What `stored`, the bytes under `key`, is at `now`: its metadata if it
    /// is live.
    fn liveness(&self, key: &[u8], stored: &[u8], now: u64) -> Result<ItemMeta, Liveness> {
        let Some(meta) = item::decode(stored) else {
            log::warn!("ignoring an unreadable item under key {:?}", String::from_utf8_lossy(key));
            return Err(Liveness::Flushed);
        };
        let flushed_before = self.shared.flush.flushed_before();
        match rules::liveness(&meta, now, flushed_before) {
            Liveness::Live => Ok(meta),
            gone => Err(gone),
        }
    }

    /// Reads `key`'s item from RocksDB as the protocol sees it at `now`.
    pub(crate) fn read(&self, key: &[u8], now: u64) -> Result<Lookup<'_>, StorageError> {
        let Some(stored) = self.db.get_pinned(key).map_err(read_failure)? else { return Ok(Lookup::Missing) };
        Ok(match self.liveness(key, &stored, now) {
            Ok(meta) => Lookup::Live(meta, stored),
            Err(Liveness::Expired) => Lookup::Expired,
            Err(_) => Lookup::Missing,
        })
    }

    /// A fetch that changes nothing, answered from `stored`; `None` when
    /// the rules change the item (its access time is due, or a win is to
    /// be handed out), so that it must be rewritten.
    fn fetch_read_only(
        &self,
        key: &[u8],
        stored: &[u8],
        fetch: &FetchRequest,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Option<Fetched> {
        let meta = match self.liveness(key, stored, now) {
            Ok(meta) => meta,
            Err(gone) => return Some(Fetched::Miss { expired: gone == Liveness::Expired }),
        };
        let outcome = rules::fetch(&meta, stored.len() - HEADER_LEN, fetch, now, self.track_access);
        if outcome.meta != meta {
            return None;
        }
        if let Some(value) = value {
            value.extend_from_slice(item::value(stored));
        }
        Some(Fetched::Hit(outcome.found))
    }
    /// A fetch that changes nothing, from the item cache or else from
    /// RocksDB (filling the cache); `None` when the item must be rewritten.
    pub(crate) fn fetch_without_write(
        &self,
        counts: &mut ReadCounts,
        key: &[u8],
        hash: u64,
        fetch: &FetchRequest,
        mut value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Option<Fetched>, StorageError> {
        let cached = self.shared.items.get(counts, hash, key, |stored| {
            self.fetch_read_only(key, stored, fetch, value.as_deref_mut(), now)
        });
        if let Some(answer) = cached {
            return Ok(answer);
        }
        // Filled under the key's stripe, so that no write lands between the
        // read and the fill and is then hidden by the older item. Not at all
        // when another worker holds the stripe: its round has a write to
        // commit there.
        let fill =
            self.shared.items.is_on().then(|| self.shared.stripes.try_fill(key_hash::stripe(hash))).flatten();
        let epoch = self.shared.items.epoch();
        let Some(stored) = self.db.get_pinned(key).map_err(read_failure)? else {
            return Ok(Some(Fetched::Miss { expired: false }));
        };
        #[cfg(test)]
        if let Some(hook) = self.before_fill.lock().expect("only tests set the hook").as_mut() {
            hook()
        }
        let answer = self.fetch_read_only(key, &stored, fetch, value, now);
        if fill.is_some() && !matches!(answer, Some(Fetched::Miss { .. })) {
            self.shared.items.insert(epoch, hash, key, &stored);
        }
        Ok(answer)
    }
}
