//! What the workers, eviction's threads and the compaction filter share,
//! besides the database: one value behind one `Arc`.

use std::sync::Arc;

use petrel_memcache_service::EvictionLog;

use crate::config::StorageConfig;
use crate::eviction::{Journal, Ledger, Policy};
use crate::flush::FlushHorizon;
use crate::item_cache::ItemCache;
use crate::key_hash::KeyHasher;
use crate::stripes::Stripes;

/// See the module docs.
pub(crate) struct Shared {
    pub(crate) keys: KeyHasher,
    /// Per-key locks, held from a write to its commit.
    pub(crate) stripes: Stripes,
    /// Hot items, served without RocksDB.
    pub(crate) items: ItemCache,
    /// What eviction knows of reads and writes.
    pub(crate) policy: Policy,
    /// Which keys were written when.
    pub(crate) journal: Journal,
    pub(crate) flush: FlushHorizon,
    /// What eviction did.
    pub(crate) ledger: Ledger,
    /// Bytes of files the store keeps.
    pub(crate) capacity: u64,
    /// Bytes of one memtable.
    pub(crate) memtable: u64,
    /// `write_stall = "busy"`: writes fail rather than wait out a stall.
    pub(crate) busy_on_stall: bool,
}

impl Shared {
    pub(crate) fn new(config: &StorageConfig, eviction_log: Arc<dyn EvictionLog>) -> Self {
        Self {
            keys: KeyHasher::default(),
            stripes: Stripes::new(),
            items: ItemCache::new(config.item_cache_size),
            policy: Policy::new(config.capacity),
            journal: Journal::default(),
            flush: FlushHorizon::default(),
            ledger: Ledger::new(eviction_log),
            capacity: config.capacity,
            memtable: config.memtable_size(),
            busy_on_stall: config.write_stall == crate::config::WriteStall::Busy,
        }
    }
}
