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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
            EVICTED_UNFETCHED.increment();
            state.unfetched.fetch_add(1, Ordering::Relaxed);
            count_eviction(&state, key, stored, Some(meta), false);
            return Decision::Remove;
        }
        Decision::Keep
    }
}
