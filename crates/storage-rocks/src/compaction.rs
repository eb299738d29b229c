//! What RocksDB's background work does to items.
//!
//! The items column family uses FIFO compaction; the store schedules the
//! merges itself (`merging.rs`):
//!
//! - **Merging.** While the store is nearly full, each flushed file is
//!   merged once, with three to seven others, after a newer one was
//!   flushed, if enough of their items would go (`merging.rs`). The merge
//!   drops newcomers nobody read since they were written (probation,
//!   `access.rs`): they are evicted early, counted in `evictions` and
//!   `evicted_unfetched`. On the way, [`drop_dead_items`] removes items
//!   that have expired or were flushed by `flush_all` (`reclaimed`), and
//!   the merge keeps one version of each key.
//! - **Eviction.** Once the files exceed the capacity, RocksDB deletes the
//!   oldest file whole, after `eviction.rs` wrote again the items in it
//!   read since written, and counted the others as evicted.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metriken::{Counter, metric};
use petrel_protocol_memcache::rules::{self, Liveness};
use petrel_protocol_memcache::unix_now;
use rocksdb::compaction_filter::Decision;

use crate::access::Access;
use crate::eviction::count_eviction;
use crate::{item, journal};

/// Expired or flushed items that compaction dropped.
#[metric(name = "reclaimed", description = "expired or flushed items whose disk space compaction reclaimed")]
pub static RECLAIMED: Counter = Counter::new();

/// Newcomers a merge dropped unread (memcached's name for items evicted
/// before any read).
#[metric(name = "evicted_unfetched", description = "items evicted without having been read since written")]
pub static EVICTED_UNFETCHED: Counter = Counter::new();

/// What the compaction filter shares with the store.
#[derive(Default)]
pub struct FilterState {
    /// Items stored before this Unix time are gone once it has passed
    /// (`flush_all`).
    pub flushed_before: AtomicU64,
    /// Items this store evicted, on probation or with their file ...
    pub evicted: AtomicU64,
    /// ... and of those, on probation.
    pub unfetched: AtomicU64,
    /// The keys a merge dropped on probation, to forget in the item cache.
    pub(crate) dropped: DroppedOnProbation,
}

/// The hashes of the items merges dropped on probation, on their way to
/// the eviction thread, which takes them out of the item cache once the
/// merge that dropped them is in place: taken out earlier, a read could
/// fill the cache from the merge's inputs again.
#[derive(Default)]
pub(crate) struct DroppedOnProbation {
    /// Dropped by the merge running now.
    merging: Mutex<Vec<u64>>,
    /// Dropped by merges in place.
    merged: Mutex<Vec<u64>>,
}

impl DroppedOnProbation {
    /// The filter dropped the item whose key hashes to `hash`.
    fn note(&self, hash: u64) {
        lock(&self.merging).push(hash);
    }

    /// The merge that dropped them is in place (or failed: then the items
    /// are still there, and a miss in the cache costs only a read).
    pub(crate) fn merge_done(&self) {
        let mut merging = lock(&self.merging);
        lock(&self.merged).append(&mut merging);
    }

    /// Takes the hashes of the items dropped by merges in place.
    pub(crate) fn take_merged(&self) -> Vec<u64> {
        std::mem::take(&mut *lock(&self.merged))
    }
}

fn lock(list: &Mutex<Vec<u64>>) -> std::sync::MutexGuard<'_, Vec<u64>> {
    list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The compaction filter: drops items no read can return any more, and
/// newcomers on probation nobody read. Dropping writes a tombstone in the
/// merged file, so no older version of the key resurfaces.
pub fn drop_dead_items(
    state: Arc<FilterState>,
    access: Arc<Access>,
    hasher: impl BuildHasher + Send + 'static,
) -> impl Fn(u32, &[u8], &[u8]) -> Decision + Send + 'static {
    move |_level, key, stored| {
        if journal::is_journal(key) {
            return Decision::Keep;
        }
        let Some(meta) = item::decode(stored) else { return Decision::Keep };
        let flushed_before = state.flushed_before.load(Ordering::Acquire);
        if rules::liveness(&meta, unix_now(), flushed_before) != Liveness::Live {
            RECLAIMED.increment();
            return Decision::Remove;
        }
        let hash = hasher.hash_one(key);
        if access.drops_on_probation(hash) {
            access.dropped_on_probation(hash);
            state.dropped.note(hash);
            EVICTED_UNFETCHED.increment();
            state.unfetched.fetch_add(1, Ordering::Relaxed);
            count_eviction(&state, key, stored, Some(meta), false);
            return Decision::Remove;
        }
        Decision::Keep
    }
}
