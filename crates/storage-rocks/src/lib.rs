//! RocksDB storage for Petrel's memcache server: items survive restarts.
//!
//! [`RocksStorage`] implements the memcache
//! [`Storage`](petrel_memcache_service::Storage) seam on RocksDB, applying
//! memcached's item rules from `petrel_memcache_service::rules`:
//!
//! - **Layout.** Items live in the default column family, key → header and
//!   value (see `item.rs`); bookkeeping (the CAS high-water mark, a pending
//!   `flush_all`) lives in the `meta` column family.
//! - **Atomic per key.** Every operation that writes takes the key's
//!   stripe (one of [`STRIPES`] locks chosen by hashing the key), reads,
//!   decides and writes; two workers never interleave on one key, and
//!   workers on different keys rarely meet. Reads take no lock.
//! - **One log write per round.** A worker's writes wait in its batch and
//!   reach RocksDB together when its round commits, keeping their stripes
//!   until then (`write.rs`).
//! - **Hot items in memory.** Every committed write goes through to the
//!   item cache (`item_cache.rs`), and a read that misses it fills it from
//!   RocksDB, under the key's stripe so that no write slips in between; a
//!   hit costs one hash lookup and a copy.
//! - **Background work yields.** RocksDB's flush and merge threads are in
//!   the idle scheduling class (`background.rs`), so a request preempts them.
//! - **Expiry** is checked on every read, so an expired item is never
//!   returned, whatever is still on disk. A compaction filter drops expired
//!   and flushed items when the store merges the files that memtable
//!   flushes leave (`eviction/merging.rs`, `eviction/filter.rs`).
//! - **Bounded disk, hot items kept.** FIFO compaction: once the files
//!   exceed `capacity`, RocksDB drops the oldest file whole. Around that,
//!   the `eviction` module runs S3-FIFO's policy over files: it writes
//!   again the items of the oldest file that were read since written, and
//!   while the store is nearly full, merges of flushed files drop
//!   newcomers nobody read. It counts what it evicts in the store's
//!   [`StorageStats`](petrel_memcache_service::StorageStats) and names
//!   each item to the [`EvictionLog`] the store was opened with.
//!
//! docs/storage.md gives the design: the files, the policy, its
//! invariants, and how a set and a get flow through the store.
//! - **Durability.** A round's writes reach the write-ahead log in one
//!   write, by `Storage::commit`, which a worker calls with its
//!   [`RocksWorker`] before any reply of the round leaves, so an
//!   acknowledged write survives the process being killed; with
//!   `sync_writes` that write is fsynced too, so it survives power loss.
//! - **CAS** values come from a counter whose high-water mark is persisted
//!   ahead of use, so they stay unique and increasing across restarts,
//!   crashes included.

mod background;
mod bookkeeping;
mod config;
mod dump;
mod eviction;
mod failure;
mod flush;
mod item;
mod item_cache;
mod key_hash;
mod open;
mod options;
mod pending;
mod read;
mod shared;
mod storage;
mod stripes;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use petrel_memcache_service::{EvictionLog, NoEvictionLog, StorageError};
use rocksdb::{Cache, DB, Options, WriteOptions};

use bookkeeping::CasCounter;
pub use config::{Compression, StorageConfig, WriteStall};
pub use open::{CheckpointError, OpenError};
use shared::Shared;
pub use stripes::STRIPES;
pub use write::RocksWorker;

/// Items in RocksDB; see the crate docs.
pub struct RocksStorage {
    db: Arc<DB>,
    /// What the workers, eviction's threads and the compaction filter share.
    shared: Arc<Shared>,
    path: PathBuf,
    write_options: WriteOptions,
    track_access: bool,
    block_cache: Cache,
    /// The options the database was opened with, statistics enabled: what
    /// reached the disk, and what tests count.
    statistics: Options,
    cas: CasCounter,
    /// Retires the oldest files (the eviction thread) ...
    retirement: Arc<eviction::Retirement>,
    /// ... and merges flushed files (the merging thread).
    merger: Arc<eviction::Merger>,
    /// Stop those threads when dropped.
    threads: Vec<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// Tests run this between a miss's RocksDB read and its cache fill.
    #[cfg(test)]
    before_fill: std::sync::Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl RocksStorage {
    /// Opens (or creates) the store at `config.path`; nobody hears of its
    /// evictions but its counts.
    pub fn open(config: &StorageConfig) -> Result<Self, OpenError> {
        Self::open_with_eviction_log(config, Arc::new(NoEvictionLog))
    }

    /// Opens (or creates) the store at `config.path`, naming every item it
    /// evicts to `eviction_log` (a server's `Watchers`, for `watch
    /// evictions`).
    pub fn open_with_eviction_log(
        config: &StorageConfig,
        eviction_log: Arc<dyn EvictionLog>,
    ) -> Result<Self, OpenError> {
        open::open(config, eviction_log)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the store into `directory`, which must
    /// not exist, while the store goes on serving: a backup that
    /// `petrel-memcache` opens as its data directory. Memtables are flushed
    /// first; files are hard-linked when `directory` is on the same file
    /// system, and copied otherwise.
    pub fn checkpoint(&self, directory: &Path) -> Result<(), CheckpointError> {
        let error = |source| CheckpointError { directory: directory.to_path_buf(), source };
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(error)?;
        checkpoint.create_checkpoint(directory).map_err(error)
    }

    /// Items this store has counted as evicted since it opened.
    pub fn evicted(&self) -> u64 {
        self.shared.ledger.counts().evicted
    }

    /// Runs a pass of the eviction thread now, for tests that write faster
    /// than its passes follow.
    #[cfg(test)]
    pub(crate) fn evict_now(&self) {
        self.retirement.pass_now();
        if let Err(error) = self.merger.merge_now() {
            log::debug!("{error}");
        }
    }

    /// Writes memtables to SST files (for tests and orderly shutdown).
    pub fn flush_memtables(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(failure::write_failure)
    }
}

impl Drop for RocksStorage {
    fn drop(&mut self) {
        for (stop, thread) in self.threads.drain(..) {
            drop(stop);
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;
