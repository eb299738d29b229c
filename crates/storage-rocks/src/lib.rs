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
//!   and flushed items when the store merges the files that memtable
//!   flushes leave (`merging.rs`, `compaction.rs`).
//! - **Bounded disk, hot items kept.** FIFO compaction: once the files
//!   exceed `capacity`, RocksDB drops the oldest file whole. Before it goes,
//!   the eviction thread writes again the items in it that were read since
//!   written (`eviction.rs`, from the write journal: `journal.rs`), and
//!   while the store is nearly full, merges of flushed files drop
//!   newcomers nobody read (`compaction.rs`): S3-FIFO's policy over files,
//!   with what it knows of reads in memory (`access.rs`).
//! - **Durability.** A round's writes reach the write-ahead log in one
//!   write, by `Storage::commit`, which a worker calls with its
//!   [`RocksWorker`] before any reply of the round leaves, so an
//!   acknowledged write survives the process being killed; with
//!   `sync_writes` that write is fsynced too, so it survives power loss.
//! - **CAS** values come from a counter whose high-water mark is persisted
//!   ahead of use, so they stay unique and increasing across restarts,
//!   crashes included.

mod access;
mod background;
mod bookkeeping;
mod compaction;
mod config;
mod drop_estimate;
mod dump;
mod eviction;
mod item;
mod item_cache;
mod journal;
mod merging;
mod options;
mod pending;
mod read;
mod reinsertion;
mod storage;
mod stripes;
mod versions;
mod write;

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use metriken::{Counter, metric};

use petrel_protocol_memcache::StorageError;
use rocksdb::{Cache, ColumnFamilyDescriptor, DB, Options, WriteOptions};

use access::Access;
use bookkeeping::META;
use compaction::FilterState;
pub use compaction::{EVICTED_UNFETCHED, RECLAIMED};
pub use config::{Compression, StorageConfig, WriteStall};
use item_cache::ItemCache;
use journal::Journal;
pub use reinsertion::{REINSERTED, REINSERTED_BYTES};
pub use stripes::STRIPES;
use stripes::Stripes;
pub use write::RocksWorker;

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
    items: Arc<ItemCache>,
    stripes: Stripes,
    hasher: std::collections::hash_map::RandomState,
    /// What eviction knows of reads.
    access: Arc<Access>,
    /// The write journal's positions and buffers.
    journal: Arc<Journal>,
    /// Bytes of one memtable.
    memtable: u64,
    /// Held for writing by an immediate `flush_all`, and for reading by
    /// the eviction thread from its first look at an item to the write of
    /// its copy, so that a copy never brings back a flushed item.
    flush_gate: Arc<parking_lot::RwLock<()>>,
    /// The next CAS value.
    next_cas: AtomicU64,
    /// CAS values below this are reserved on disk.
    cas_reserved: AtomicU64,
    /// Held while a new reservation is written.
    cas_renewal: Mutex<()>,
    /// The pending `flush_all`, shared with the compaction filter.
    filter_state: Arc<FilterState>,
    /// The options the database was opened with, statistics enabled: what
    /// reached the disk, and what tests count.
    statistics: Options,
    /// Reinserts read items and counts evictions.
    evictor: Option<Arc<eviction::Evictor>>,
    /// Merges flushed files.
    merger: Option<Arc<merging::Merger>>,
    /// Stop the eviction and merging threads when dropped.
    threads: Vec<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// Tests run this between a miss's RocksDB read and its cache fill.
    #[cfg(test)]
    before_fill: Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl RocksStorage {
    /// Opens (or creates) the store at `config.path`.
    pub fn open(config: &StorageConfig) -> Result<Self, OpenError> {
        let path = config.path.clone();
        let block_cache = Cache::new_hyper_clock_cache(config.block_cache_size, 0);
        let mut items = options::items(config, &block_cache);
        let filter_state = Arc::new(FilterState::default());
        let hasher = std::collections::hash_map::RandomState::new();
        let access = Arc::new(Access::new(config.capacity));
        items.set_compaction_filter(
            "petrel-drop-dead-items",
            compaction::drop_dead_items(filter_state.clone(), access.clone(), hasher.clone()),
        );

        let db_options = options::database(&items, config);

        let open_error = |source| OpenError::Open { path: path.clone(), source };
        let db = Arc::new(
            DB::open_cf_descriptors(
                &db_options,
                &path,
                [
                    ColumnFamilyDescriptor::new(rocksdb::DEFAULT_COLUMN_FAMILY_NAME, items),
                    ColumnFamilyDescriptor::new(META, options::meta()),
                ],
            )
            .map_err(open_error)?,
        );
        match background::idle_background_threads() {
            Ok(moved) => log::debug!("{moved} RocksDB background threads in the idle scheduling class"),
            Err(error) => log::warn!("RocksDB's background threads keep their priority: {error}"),
        }
        // RocksDB's own merges (intra-L0 compaction) are off: the store
        // schedules them (merging.rs). The options API has no switch for
        // them; the option string does.
        db.set_options(&[(
            "compaction_options_fifo",
            // The capacity counts blob files too (`max_data_files_size`).
            &format!(
                "{{max_table_files_size={0};max_data_files_size={0};allow_compaction=false}}",
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
            items: Arc::new(ItemCache::new(config.item_cache_size)),
            stripes: Stripes::new(),
            hasher,
            access,
            journal: Arc::default(),
            memtable: config.memtable_size(),
            flush_gate: Arc::default(),
            next_cas: AtomicU64::new(0),
            cas_reserved: AtomicU64::new(0),
            cas_renewal: Mutex::new(()),
            filter_state: filter_state.clone(),
            statistics: db_options,
            evictor: None,
            merger: None,
            threads: Vec::new(),
            #[cfg(test)]
            before_fill: Mutex::new(None),
        };
        let mut storage = storage;
        storage.recover().map_err(|detail| OpenError::Meta { path: path.clone(), detail })?;
        let evictor = Arc::new(eviction::Evictor {
            db: storage.db.clone(),
            access: storage.access.clone(),
            journal: storage.journal.clone(),
            flush_gate: storage.flush_gate.clone(),
            stripes: storage.stripes.clone(),
            hasher: storage.hasher.clone(),
            filter_state: storage.filter_state.clone(),
            items: storage.items.clone(),
            capacity: config.capacity,
            memtable: config.memtable_size(),
            busy_on_stall: storage.busy_on_stall,
            state: Default::default(),
        });
        storage.evictor = Some(evictor.clone());
        let thread_error =
            |e| OpenError::Meta { path: path.clone(), detail: format!("cannot start a thread: {e}") };
        storage.threads.push(evictor.start().map_err(thread_error)?);
        let merger = Arc::new(merging::Merger::new(
            storage.db.clone(),
            storage.access.clone(),
            storage.hasher.clone(),
            storage.filter_state.clone(),
        ));
        storage.merger = Some(merger.clone());
        storage.threads.push(merger.start().map_err(thread_error)?);
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
        self.filter_state.evicted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs a pass of the eviction thread now, for tests that write faster
    /// than its passes follow.
    #[cfg(test)]
    pub(crate) fn evict_now(&self) {
        self.evictor.as_ref().expect("opened").pass_now();
        if let Err(error) = self.merger.as_ref().expect("opened").merge_now() {
            log::debug!("{error}");
        }
    }

    /// Writes memtables to SST files (for tests and orderly shutdown).
    pub fn flush_memtables(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(write_failure)
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
