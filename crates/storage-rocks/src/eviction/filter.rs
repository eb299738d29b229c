//! The compaction filter: what RocksDB's merges do to items.
//!
//! The items column family uses FIFO compaction, and the store schedules
//! the merges itself (`merging.rs`). Every merge passes each item through
//! [`drop_dead_items`]:
//!
//! - items that have expired or were flushed by `flush_all` go (counted as
//!   `reclaimed`): no read can return them;
//! - while the store is nearly full, newcomers nobody read since they were
//!   written go too (probation, `policy.rs`): evicted early, counted in
//!   `evictions` and `evicted_unfetched`, and remembered by the ghost;
//! - the merge keeps one version of each key.
//!
//! Dropping writes a tombstone in the merged file, so no older version of
//! the key resurfaces. Once the files exceed the capacity, RocksDB deletes
//! the oldest whole (`retirement.rs`).

use std::sync::Arc;

use petrel_memcache_service::rules::{self, Liveness};
use petrel_memcache_service::unix_now;
use rocksdb::compaction_filter::Decision;

use super::journal;
use crate::item;
use crate::shared::Shared;

/// The filter; see the module docs.
pub(crate) fn drop_dead_items(
    shared: Arc<Shared>,
) -> impl Fn(u32, &[u8], &[u8]) -> Decision + Send + 'static {
    move |_level, key, stored| {
        if journal::is_journal(key) {
            return Decision::Keep;
        }
        let Some(meta) = item::decode(stored) else { return Decision::Keep };
        if rules::liveness(&meta, unix_now(), shared.flush.flushed_before()) != Liveness::Live {
            shared.ledger.reclaimed();
            return Decision::Remove;
        }
        let hash = shared.keys.hash(key);
        if shared.policy.drops_on_probation(hash) {
            shared.policy.on_dropped(hash);
            shared.ledger.dropped_on_probation(key, hash, stored, meta);
            return Decision::Remove;
        }
        Decision::Keep
    }
}
