//! The ledger of what eviction did: every item that left for room is
//! counted here once, and named to the store's [`EvictionLog`] (`watch
//! evictions`) while someone listens. The store reports the counts in
//! [`StorageStats`](petrel_memcache_service::StorageStats) and its
//! metrics (`publish`); nothing here is process-wide, so two stores in one
//! process keep their own.
//!
//! The ledger also carries the hashes of the items merges dropped on
//! probation, from the compaction filter to the retirement thread, which
//! takes them out of the item cache once their merge is in place: taken
//! out earlier, a read could fill the cache from the merge's inputs again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use metriken::{Counter, metric};
use petrel_memcache_service::ItemMeta;
use petrel_memcache_service::{Eviction, EvictionLog, Expiry, unix_now};

use crate::item;

#[metric(name = "reclaimed", description = "expired or flushed items whose disk space compaction reclaimed")]
static RECLAIMED: Counter = Counter::new();
#[metric(name = "evicted_unfetched", description = "items evicted without having been read since written")]
static EVICTED_UNFETCHED: Counter = Counter::new();
#[metric(
    name = "reinserted",
    description = "items written again because they were read before their file was evicted"
)]
static REINSERTED: Counter = Counter::new();
#[metric(
    name = "reinserted_bytes",
    description = "bytes of the items written again because they were read before their file was evicted"
)]
static REINSERTED_BYTES: Counter = Counter::new();
#[metric(
    name = "merges_skipped",
    description = "groups of flushed files left unmerged, as too little would go"
)]
static MERGES_SKIPPED: Counter = Counter::new();

/// What eviction did since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EvictionCounts {
    /// Items evicted, on probation or with their file ...
    pub(crate) evicted: u64,
    /// ... and of those, on probation (memcached's `evicted_unfetched`).
    pub(crate) unfetched: u64,
    /// Expired or flushed items a merge dropped.
    pub(crate) reclaimed: u64,
    /// Items written again because they were read before their file went ...
    pub(crate) reinserted: u64,
    /// ... and their bytes as written: what the policy adds to the disk's
    /// writes, beside the merges.
    pub(crate) reinserted_bytes: u64,
    /// Groups of flushed files left unmerged: too little would go.
    pub(crate) merges_skipped: u64,
}

/// See the module docs.
pub(crate) struct Ledger {
    log: Arc<dyn EvictionLog>,
    evicted: AtomicU64,
    unfetched: AtomicU64,
    reclaimed: AtomicU64,
    reinserted: AtomicU64,
    reinserted_bytes: AtomicU64,
    merges_skipped: AtomicU64,
    /// Dropped by the merge running now ...
    merging: Mutex<Vec<u64>>,
    /// ... and by merges in place.
    merged: Mutex<Vec<u64>>,
}

impl Ledger {
    /// A ledger naming evictions to `log`.
    pub(crate) fn new(log: Arc<dyn EvictionLog>) -> Self {
        Self {
            log,
            evicted: AtomicU64::new(0),
            unfetched: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
            reinserted: AtomicU64::new(0),
            reinserted_bytes: AtomicU64::new(0),
            merges_skipped: AtomicU64::new(0),
            merging: Mutex::default(),
            merged: Mutex::default(),
        }
    }

    /// The item under `key`, stored as `stored`, was evicted; `fetched`:
    /// it was ever read.
    pub(crate) fn evicted(&self, key: &[u8], stored: &[u8], meta: Option<ItemMeta>, fetched: bool) {
        self.evicted.fetch_add(1, Ordering::Relaxed);
        let Some(meta) = meta.filter(|_| self.log.wanted()) else { return };
        let now = unix_now();
        self.log.evicted(&Eviction {
            key,
            fetched: fetched || meta.fetched,
            ttl: match meta.expiry {
                Expiry::Never => None,
                Expiry::At(at) => Some(at.saturating_sub(now)),
            },
            idle: now.saturating_sub(meta.last_access.max(meta.stored_at)),
            size: stored.len().saturating_sub(item::HEADER_LEN),
        });
    }

    /// `count` items were evicted whose keys are not known.
    pub(crate) fn evicted_unnamed(&self, count: u64) {
        self.evicted.fetch_add(count, Ordering::Relaxed);
    }

    /// A merge dropped on probation the unread item under `key`, whose hash
    /// is `hash`; it leaves the item cache once the merge is in place.
    pub(crate) fn dropped_on_probation(&self, key: &[u8], hash: u64, stored: &[u8], meta: ItemMeta) {
        self.unfetched.fetch_add(1, Ordering::Relaxed);
        lock(&self.merging).push(hash);
        self.evicted(key, stored, Some(meta), false);
    }

    /// The merge running now is in place (or failed: then its items are
    /// still there, and a miss in the cache costs only a read).
    pub(crate) fn merge_done(&self) {
        let mut merging = lock(&self.merging);
        lock(&self.merged).append(&mut merging);
    }

    /// Takes the hashes of the items dropped by merges in place.
    pub(crate) fn take_merged(&self) -> Vec<u64> {
        std::mem::take(&mut *lock(&self.merged))
    }

    /// A merge dropped an expired or flushed item.
    pub(crate) fn reclaimed(&self) {
        self.reclaimed.fetch_add(1, Ordering::Relaxed);
    }

    /// `copies` read items, `bytes` in all, were written again.
    pub(crate) fn reinserted(&self, copies: u64, bytes: u64) {
        self.reinserted.fetch_add(copies, Ordering::Relaxed);
        self.reinserted_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A group of flushed files was left unmerged.
    pub(crate) fn merge_skipped(&self) {
        self.merges_skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> EvictionCounts {
        let load = |count: &AtomicU64| count.load(Ordering::Relaxed);
        EvictionCounts {
            evicted: load(&self.evicted),
            unfetched: load(&self.unfetched),
            reclaimed: load(&self.reclaimed),
            reinserted: load(&self.reinserted),
            reinserted_bytes: load(&self.reinserted_bytes),
            merges_skipped: load(&self.merges_skipped),
        }
    }

    /// Sets the store's eviction metrics from the counts (`evictions`
    /// itself is the service's, from `StorageStats`).
    pub(crate) fn publish(&self) -> EvictionCounts {
        let counts = self.counts();
        RECLAIMED.set(counts.reclaimed);
        EVICTED_UNFETCHED.set(counts.unfetched);
        REINSERTED.set(counts.reinserted);
        REINSERTED_BYTES.set(counts.reinserted_bytes);
        MERGES_SKIPPED.set(counts.merges_skipped);
        counts
    }
}

fn lock(list: &Mutex<Vec<u64>>) -> MutexGuard<'_, Vec<u64>> {
    list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
