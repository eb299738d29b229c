//! RocksDB storage for Petrel's memcache server: items survive restarts.
//!
//! [`RocksStorage`] implements the memcache
//! [`Storage`](petrel_protocol_memcache::Storage) seam on RocksDB, applying
//! memcached's item rules from `petrel_protocol_memcache::rules`:
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
//!   and flushed items when RocksDB merges the small files that memtable
//!   flushes leave (see `compaction.rs`).
//! - **Bounded disk.** FIFO compaction: once the SST files exceed
//!   `capacity`, RocksDB drops the oldest file, so the oldest writes are
//!   evicted first; a watcher thread counts the entries of dropped files in
//!   `evictions`.
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
mod compaction;
mod config;
mod dump;
mod item;
mod item_cache;
mod pending;
mod read;
mod storage;
mod stripes;
mod write;

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use metriken::{Counter, metric};

use petrel_protocol_memcache::StorageError;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompactionStyle, DBCompressionType,
    DataBlockIndexType, FifoCompactOptions, Options, WriteOptions, statistics::StatsLevel,
};

use bookkeeping::META;
pub use compaction::RECLAIMED;
use compaction::{EvictionCounter, FilterState};
pub use config::{Compression, StorageConfig, WriteStall};
use item_cache::ItemCache;
pub use stripes::STRIPES;
use stripes::Stripes;
pub use write::RocksWorker;

/// RocksDB's text log (`LOG`) rotates at this size ...
const ROCKSDB_LOG_FILE_SIZE: usize = 1 << 20;
/// ... and this many are kept, the current one included.
const ROCKSDB_LOG_FILES: usize = 4;
/// The manifest (the list of live files) is rewritten past this size.
const MANIFEST_FILE_SIZE: usize = 8 << 20;

/// Intra-L0 compaction merges at most `capacity` divided by this.
const MERGED_FILES_IN_CAPACITY: u64 = 8;

/// Why the store could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// RocksDB refused to open the directory (locked by another process,
    /// unreadable, corrupt, disk full).
    #[error("cannot open the data directory {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// RocksDB's reason.
        source: rocksdb::Error,
    },
    /// The bookkeeping could not be read or written.
    #[error("cannot read or write the bookkeeping in {path}: {detail}")]
    Meta {
        /// The directory.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

/// A checkpoint could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write a checkpoint into {directory}: {source}")]
pub struct CheckpointError {
    /// Where it was to go.
    pub directory: PathBuf,
    /// RocksDB's reason.
    pub source: rocksdb::Error,
}

/// Items in RocksDB; see the crate docs.
pub struct RocksStorage {
    db: Arc<DB>,
    path: PathBuf,
    write_options: WriteOptions,
    /// `write_stall = "busy"`: writes fail rather than wait out a stall.
    busy_on_stall: bool,
    track_access: bool,
    block_cache: Cache,
    items: ItemCache,
    stripes: Stripes,
    hasher: std::collections::hash_map::RandomState,
    next_cas: AtomicU64,
    /// CAS values below this are reserved on disk.
    cas_reserved: AtomicU64,
    /// Held while a new reservation is written.
    cas_renewal: Mutex<()>,
    /// The pending `flush_all`, shared with the compaction filter.
    filter_state: Arc<FilterState>,
    /// Counts evictions as SST files disappear.
    evictions: Arc<EvictionCounter>,
    /// Stops the eviction watcher when dropped.
    watcher: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// Tests run this between a miss's RocksDB read and its cache fill.
    #[cfg(test)]
    before_fill: Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl RocksStorage {
    /// Opens (or creates) the store at `config.path`.
    pub fn open(config: &StorageConfig) -> Result<Self, OpenError> {
        let path = config.path.clone();
        // Tuned for point lookups, the only reads a cache makes. FIFO keeps
        // every file in level 0, so a get consults each file's filter: keep
        // those filters and indexes pinned rather than looked up per get.
        let block_cache = Cache::new_hyper_clock_cache(config.block_cache_size, 0);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&block_cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_data_block_index_type(DataBlockIndexType::BinaryAndHash);
        table.set_data_block_hash_ratio(0.75);

        let mut items = Options::default();
        items.set_block_based_table_factory(&table);
        // Most gets are for keys not in the memtables: a bloom filter there
        // answers "not here" without searching the skiplist.
        items.set_memtable_whole_key_filtering(true);
        items.set_memtable_prefix_bloom_ratio(0.1);
        items.set_write_buffer_size(config.write_buffer_size);
        items.set_max_write_buffer_number(config.write_buffer_count);
        let compression = match config.compression {
            Compression::None => DBCompressionType::None,
            Compression::Lz4 => DBCompressionType::Lz4,
            Compression::Zstd => DBCompressionType::Zstd,
        };
        items.set_compression_type(compression);
        if config.blob_threshold > 0 {
            // Large items leave the memtable for blob files at the flush,
            // and merges move only their keys. FIFO drops a blob file with
            // the last table file that refers to it; no blob GC is needed.
            items.set_enable_blob_files(true);
            items.set_min_blob_size(config.blob_threshold);
            items.set_blob_file_size(config.write_buffer_size as u64);
            items.set_blob_compression_type(compression);
            items.set_enable_blob_gc(false);
            items.set_blob_cache(&block_cache);
        }
        items.set_compaction_style(DBCompactionStyle::Fifo);
        let mut fifo = FifoCompactOptions::default();
        fifo.set_max_table_files_size(config.capacity);
        items.set_fifo_compaction_options(&fifo);
        // Merged files stay small next to the capacity, so that each lives
        // long enough for the eviction watcher to see it (compaction.rs).
        items.set_max_compaction_bytes(config.capacity / MERGED_FILES_IN_CAPACITY);
        let filter_state = Arc::new(FilterState::default());
        items.set_compaction_filter(
            "petrel-drop-dead-items",
            compaction::drop_dead_items(filter_state.clone()),
        );

        let mut db_options = items.clone();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_max_background_jobs(config.background_jobs);
        // The meta family is written rarely, so its memtable would pin every
        // log file since its first write; past this total RocksDB flushes it.
        db_options.set_max_total_wal_size(config.wal_limit());
        // RocksDB's own files besides the data: its text log (a few KB per
        // flush and compaction, which a busy small store does every second)
        // rotates and keeps a few, and the manifest is rewritten compactly
        // once it reaches its limit, so neither grows without bound.
        db_options.set_max_log_file_size(ROCKSDB_LOG_FILE_SIZE);
        db_options.set_keep_log_file_num(ROCKSDB_LOG_FILES);
        db_options.set_max_manifest_file_size(MANIFEST_FILE_SIZE);
        // Counters only (no histograms or timers): eviction counting needs
        // what compactions dropped.
        db_options.enable_statistics();
        db_options.set_statistics_level(StatsLevel::ExceptHistogramOrTimers);

        let open_error = |source| OpenError::Open { path: path.clone(), source };
        let db = Arc::new(
            DB::open_cf_descriptors(
                &db_options,
                &path,
                [
                    ColumnFamilyDescriptor::new(rocksdb::DEFAULT_COLUMN_FAMILY_NAME, items),
                    ColumnFamilyDescriptor::new(META, meta_options()),
                ],
            )
            .map_err(open_error)?,
        );
        match background::idle_background_threads() {
            Ok(moved) => log::debug!("{moved} RocksDB background threads in the idle scheduling class"),
            Err(error) => log::warn!("RocksDB's background threads keep their priority: {error}"),
        }
        // The options API offers no switch for intra-L0 compaction; the
        // option string does. See compaction.rs for what it does.
        db.set_options(&[(
            "compaction_options_fifo",
            // The capacity counts blob files too (`max_data_files_size`).
            &format!(
                "{{max_table_files_size={0};max_data_files_size={0};allow_compaction=true}}",
                config.capacity
            ),
        )])
        .map_err(open_error)?;

        // A round's writes go to the log in one batch; with `sync_writes`,
        // that write fsyncs it. With `write_stall = "busy"`, a write RocksDB
        // would stall fails at once (see `write_failure`).
        let mut write_options = WriteOptions::default();
        write_options.set_sync(config.sync_writes);
        write_options.set_no_slowdown(config.write_stall == WriteStall::Busy);
        let storage = Self {
            db,
            path: path.clone(),
            write_options,
            busy_on_stall: config.write_stall == WriteStall::Busy,
            track_access: config.track_access,
            block_cache,
            items: ItemCache::new(config.item_cache_size),
            stripes: Stripes::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            next_cas: AtomicU64::new(0),
            cas_reserved: AtomicU64::new(0),
            cas_renewal: Mutex::new(()),
            filter_state: filter_state.clone(),
            evictions: Arc::new(EvictionCounter::new(filter_state, db_options)),
            watcher: None,
            #[cfg(test)]
            before_fill: Mutex::new(None),
        };
        let mut storage = storage;
        storage.recover().map_err(|detail| OpenError::Meta { path: path.clone(), detail })?;
        storage.evictions.look(&storage.db);
        storage.watcher =
            Some(EvictionCounter::watch(storage.evictions.clone(), storage.db.clone()).map_err(|e| {
                OpenError::Meta { path, detail: format!("cannot start the eviction watcher: {e}") }
            })?);
        Ok(storage)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key's hash: it picks the lock stripe and the item cache shard.
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
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
        self.evictions.evicted()
    }

    /// Writes memtables to SST files (for tests and orderly shutdown).
    pub fn flush_memtables(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(write_failure)
    }
}

impl Drop for RocksStorage {
    fn drop(&mut self) {
        if let Some((stop, watcher)) = self.watcher.take() {
            drop(stop);
            let _ = watcher.join();
        }
    }
}

/// The meta family holds two small values. Its memtable is kept small
/// because RocksDB, after a full disk, resumes writing only once the free
/// space exceeds every family's write buffer.
fn meta_options() -> Options {
    let mut options = Options::default();
    options.set_write_buffer_size(META_WRITE_BUFFER_SIZE);
    options
}

const META_WRITE_BUFFER_SIZE: usize = 256 << 10;

fn failure(detail: String) -> StorageError {
    StorageError { reply: "storage failure", detail }
}

fn read_failure(error: rocksdb::Error) -> StorageError {
    StorageError { reply: "storage read failed", detail: error.to_string() }
}

#[metric(
    name = "write_stalls",
    description = "writes refused with SERVER_ERROR 307 busy because RocksDB stalled writes (flushes or merges behind)"
)]
static WRITE_STALLS: Counter = Counter::new();

/// A failed write. One refused because RocksDB is stalling writes (its
/// memtables or files wait for flushes and merges; only with
/// `write_stall = "busy"`) is answered the way mcrouter reads as busy, so
/// that a router can fail over.
fn write_failure(error: rocksdb::Error) -> StorageError {
    match error.kind() {
        rocksdb::ErrorKind::Incomplete => busy(),
        _ => StorageError { reply: "storage write failed", detail: error.to_string() },
    }
}

/// A write refused because RocksDB stalls writes.
fn busy() -> StorageError {
    WRITE_STALLS.increment();
    StorageError { reply: "307 busy", detail: "RocksDB is stalling writes".into() }
}

#[cfg(test)]
mod tests;
