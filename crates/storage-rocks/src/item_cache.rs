//! The item cache: recently read items (kept current by their writes), served without RocksDB.
//!
//! A RocksDB point lookup costs several microseconds even when every block
//! is in memory (memtable filters, one filter per file, the block cache, the
//! block search); memcached answers a get in a hash lookup. This cache puts
//! the hot items one hash lookup away.
//!
//! - **Layout.** [`SHARDS`] shards, each behind its own mutex, each a ring of
//!   bytes allocated once (pages are touched as the ring fills) plus an
//!   index from key hash to the entry's offset. An entry is its length, the
//!   key hash, the key and the stored item (header and value) exactly as
//!   RocksDB holds it, so a hit decodes the same bytes a lookup would.
//! - **Eviction** is CLOCK over the ring: a new entry overwrites the oldest
//!   ones, but an oldest entry read since it was written moves to the head
//!   instead, unread again (at most [`SECOND_CHANCES`] per insert, so an
//!   insert's cost stays bounded), so a hot item stays in memory while it
//!   is hot. Replaced and removed entries become garbage that the ring
//!   overwrites in turn. Writes never allocate once the index has grown to
//!   the number of entries the ring holds.
//! - **Coherence** is the store's job (see `lib.rs`): every write to RocksDB
//!   is followed by an insert or a removal here, under the key's stripe lock,
//!   and a miss is filled under that lock too. `flush_all` empties the cache
//!   and moves the [`epoch`](ItemCache::epoch), so that a fill or write
//!   begun before the flush cannot put a flushed item back.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use metriken::{Counter, Gauge, metric};

/// Number of shards; a key's shard comes from its hash.
pub const SHARDS: usize = 64;

/// An entry larger than this share of a shard is not cached: it would
/// evict too much at once.
const LARGEST_ENTRY_IN_SHARD: usize = 8;

/// Bytes before the key: entry length (u32), key hash (u64), key length
/// (u8), flags (u8).
const ENTRY_HEADER: usize = 4 + 8 + 1 + 1;
/// Where the flags are in an entry ...
const FLAGS: usize = 13;
/// ... and the one there is: read since written (or since it last moved).
const READ: u8 = 1;
/// Oldest entries that may move to the head, rather than go, per insert.
const SECOND_CHANCES: u32 = 4;

/// Where the ring wraps early, because the next entry did not fit before
/// its end. No entry is this short.
const WRAP_MARK: u32 = 0;

#[metric(name = "item_cache_hits", description = "reads answered by the item cache")]
static HITS: Counter = Counter::new();
#[metric(name = "item_cache_misses", description = "reads that went to RocksDB, with the item cache on")]
static MISSES: Counter = Counter::new();
#[metric(name = "item_cache_bytes", description = "bytes of the item cache's rings in use, garbage included")]
static BYTES_USED: Gauge = Gauge::new();

/// One worker's item cache reads since its last round ended, added to the
/// shared counters once per round ([`publish`](Self::publish)) rather than
/// by every read.
#[derive(Debug, Default)]
pub struct ReadCounts {
    hits: u64,
    misses: u64,
}

impl ReadCounts {
    /// Adds the counts to `item_cache_hits` and `item_cache_misses`, and
    /// starts again from zero.
    pub fn publish(&mut self) {
        if self.hits > 0 {
            HITS.add(std::mem::take(&mut self.hits));
        }
        if self.misses > 0 {
            MISSES.add(std::mem::take(&mut self.misses));
        }
    }
}

/// Hot items in memory; see the module docs.
pub struct ItemCache {
    shards: Box<[Mutex<Shard>]>,
    epoch: AtomicU64,
}

impl ItemCache {
    /// A cache of at most `capacity` bytes; 0 turns it off.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity / SHARDS;
        let shards = if per_shard < ENTRY_HEADER * LARGEST_ENTRY_IN_SHARD {
            Vec::new()
        } else {
            (0..SHARDS).map(|_| Mutex::new(Shard::new(per_shard))).collect()
        };
        Self { shards: shards.into_boxed_slice(), epoch: AtomicU64::new(0) }
    }

    /// Whether the cache holds anything at all.
    pub fn is_on(&self) -> bool {
        !self.shards.is_empty()
    }

    /// Calls `read` with the stored item of `key` (whose hash is `hash`), if
    /// cached, and counts the hit or miss in `counts`. The shard stays
    /// locked during `read`: keep it short.
    pub fn get<R>(
        &self,
        counts: &mut ReadCounts,
        hash: u64,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let mut shard = self.shard(hash)?;
        let found = shard.find_read(hash, key).map(read);
        match found {
            Some(_) => counts.hits += 1,
            None => counts.misses += 1,
        };
        found
    }

    /// The current epoch: read it before reading or writing RocksDB, and
    /// give it to [`insert`](Self::insert).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches `stored` as the item of `key`, unless the cache was cleared
    /// since `epoch` was read (the item may predate a `flush_all`).
    pub fn insert(&self, epoch: u64, hash: u64, key: &[u8], stored: &[u8]) {
        let Some(mut shard) = self.shard(hash) else { return };
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        let before = shard.used;
        shard.insert(hash, key, stored);
        BYTES_USED.add(shard.used as i64 - before as i64);
    }

    /// Forgets `key`, and with it any other key of the same hash (rare, and
    /// only a miss): so the ring, where the key is, is not read. Returns
    /// whether it was cached.
    pub fn remove(&self, hash: u64) -> bool {
        match self.shard(hash) {
            Some(mut shard) => shard.index.remove(&hash).is_some(),
            None => false,
        }
    }

    /// Forgets everything, and moves the epoch first so that inserts begun
    /// earlier are refused.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            BYTES_USED.sub(shard.used as i64);
            shard.clear();
        }
    }

    fn shard(&self, hash: u64) -> Option<MutexGuard<'_, Shard>> {
        if self.shards.is_empty() {
            return None;
        }
        let shard = &self.shards[crate::key_hash::shard(hash, self.shards.len())];
        Some(shard.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One ring and its index. Live and garbage entries lie in the ring in the
/// order they were written (or moved), from `oldest` to `head`, wrapping at
/// the end.
struct Shard {
    ring: Box<[u8]>,
    /// Key hash → offset of the key's entry.
    index: HashMap<u64, u32, BuildHasherDefault<KeyHash>>,
    /// Where the next entry goes.
    head: usize,
    /// The oldest entry, the next to be overwritten.
    oldest: usize,
    /// Bytes from `oldest` to `head`, skipped ends of the ring included.
    used: usize,
    /// An entry on its way from the tail to the head; kept for reuse.
    moving: Vec<u8>,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        // Zeroed allocation: the kernel maps pages only once they are written.
        let ring = vec![0u8; capacity.min(u32::MAX as usize)].into_boxed_slice();
        Self { ring, index: HashMap::default(), head: 0, oldest: 0, used: 0, moving: Vec::new() }
    }

    #[cfg(test)]
    fn find(&self, hash: u64, key: &[u8]) -> Option<&[u8]> {
        let at = *self.index.get(&hash)? as usize;
        let (entry_key, stored) = self.entry(at);
        (entry_key == key).then_some(stored)
    }

    /// The stored item of `key`, for a read: marks the entry read.
    fn find_read(&mut self, hash: u64, key: &[u8]) -> Option<&[u8]> {
        let at = *self.index.get(&hash)? as usize;
        if self.entry(at).0 != key {
            return None;
        }
        self.ring[at + FLAGS] |= READ;
        Some(self.entry(at).1)
    }

    fn insert(&mut self, hash: u64, key: &[u8], stored: &[u8]) {
        let len = ENTRY_HEADER + key.len() + stored.len();
        if len > self.ring.len() / LARGEST_ENTRY_IN_SHARD || key.len() > u8::MAX as usize {
            self.index.remove(&hash);
            return;
        }
        let at = self.room(len, SECOND_CHANCES);
        let entry = &mut self.ring[at..at + len];
        entry[0..4].copy_from_slice(&(len as u32).to_le_bytes());
        entry[4..12].copy_from_slice(&hash.to_le_bytes());
        entry[12] = key.len() as u8;
        entry[FLAGS] = 0;
        entry[ENTRY_HEADER..ENTRY_HEADER + key.len()].copy_from_slice(key);
        entry[ENTRY_HEADER + key.len()..].copy_from_slice(stored);
        self.index.insert(hash, at as u32);
    }

    /// Makes room for an entry of `len` bytes at the head, evicting the
    /// oldest entries (moving up to `chances` read ones to the head
    /// instead), and returns where it goes.
    fn room(&mut self, len: usize, mut chances: u32) -> usize {
        loop {
            let wraps = self.head + len > self.ring.len();
            let skipped = if wraps { self.ring.len() - self.head } else { 0 };
            if self.used + skipped + len <= self.ring.len() {
                if wraps {
                    if skipped >= 4 {
                        self.ring[self.head..self.head + 4].copy_from_slice(&WRAP_MARK.to_le_bytes());
                    }
                    self.used += skipped;
                    self.head = 0;
                }
                let at = self.head;
                self.head += len;
                self.used += len;
                return at;
            }
            self.evict_oldest(&mut chances);
        }
    }

    fn clear(&mut self) {
        self.index.clear();
        self.head = 0;
        self.oldest = 0;
        self.used = 0;
    }

    /// Moves `oldest` past one entry (or past the skipped end of the ring).
    /// The entry, if still the live one for its key, goes; or, if it was
    /// read and `chances` allows, moves to the head unread.
    fn evict_oldest(&mut self, chances: &mut u32) {
        let at = self.oldest;
        let remaining = self.ring.len() - at;
        if remaining < 4 || self.u32_at(at) == WRAP_MARK {
            self.used -= remaining;
            self.oldest = 0;
            return;
        }
        let len = self.u32_at(at) as usize;
        let hash = u64::from_le_bytes(self.ring[at + 4..at + 12].try_into().expect("8 bytes"));
        self.used -= len;
        self.oldest = at + len;
        if self.index.get(&hash) != Some(&(at as u32)) {
            return;
        }
        if self.ring[at + FLAGS] & READ == 0 || *chances == 0 {
            self.index.remove(&hash);
            return;
        }
        *chances -= 1;
        let mut moving = std::mem::take(&mut self.moving);
        moving.clear();
        moving.extend_from_slice(&self.ring[at..at + len]);
        moving[FLAGS] = 0;
        // No second chances while this one moves: `moving` holds it.
        let to = self.room(len, 0);
        self.ring[to..to + len].copy_from_slice(&moving);
        self.index.insert(hash, to as u32);
        self.moving = moving;
    }

    /// The key and the stored item of the entry at `at`.
    fn entry(&self, at: usize) -> (&[u8], &[u8]) {
        let len = self.u32_at(at) as usize;
        let key_len = self.ring[at + 12] as usize;
        let key_end = at + ENTRY_HEADER + key_len;
        (&self.ring[at + ENTRY_HEADER..key_end], &self.ring[key_end..at + len])
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.ring[at..at + 4].try_into().expect("4 bytes"))
    }
}

/// A set of key hashes, hashed as they are.
pub(crate) type KeyHashes = HashSet<u64, BuildHasherDefault<KeyHash>>;

/// The index is keyed by hashes already computed from the key: use them as
/// they are.
#[derive(Default)]
pub(crate) struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _bytes: &[u8]) {
        unreachable!("the index hashes u64 keys only")
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

#[cfg(test)]
mod tests;
