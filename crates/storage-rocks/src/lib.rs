//! RocksDB storage for Petrel's memcache server: items survive restarts.
//!
//! [`RocksStorage`] implements the memcache [`Storage`] seam on RocksDB:
//!
//! - **Layout.** Items live in the default column family, key → header and
//!   value (see `item.rs`); bookkeeping (the CAS high-water mark, a pending
//!   `flush_all`) lives in the `meta` column family.
//! - **Atomic per key.** Every operation that writes takes the lock of the
//!   key's stripe (one of [`LOCK_STRIPES`] mutexes chosen by hashing the
//!   key), reads, decides and writes; two workers never interleave on one key,
//!   and workers on different keys rarely meet. Reads take no lock.
//! - **Hot items in memory.** Every write goes through to the item cache
//!   (`item_cache.rs`) after RocksDB, and a read that misses it fills it
//!   from RocksDB, under the key's stripe lock so that no write slips in
//!   between; a hit costs one hash lookup and a copy.
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
//! - **Durability.** Every write goes to the write-ahead log before it is
//!   acknowledged, so it survives the process being killed; with
//!   `sync_writes` the log is fsynced too, so it survives power loss: once
//!   per round of requests, by [`Storage::commit`], which a worker calls
//!   before any reply of the round leaves.
//! - **CAS** values come from a counter whose high-water mark is persisted
//!   ahead of use, so they stay unique and increasing across restarts,
//!   crashes included.

mod background;
mod compaction;
mod config;
mod item;
mod item_cache;

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;

use metriken::{Gauge, metric};
use petrel_protocol_memcache::number::{format_u64, next_counter};
use petrel_protocol_memcache::{
    Arithmetic, BYTES, CURR_ITEMS, Counted, Delete, Deleted, Fetch, Fetched, Found, Storage, Store,
    StoreError, StoreMode, Stored,
};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompactionStyle, DBCompressionType,
    DataBlockIndexType, FifoCompactOptions, Options, WriteBatch, WriteOptions, statistics::StatsLevel,
};

pub use compaction::RECLAIMED;
use compaction::{EvictionCounter, FilterState};
pub use config::{Compression, StorageConfig};
use item::{HEADER_LEN, Header};
use item_cache::ItemCache;

/// Number of per-key lock stripes.
pub const LOCK_STRIPES: usize = 1024;

/// CAS values are reserved on disk this many at a time.
const CAS_RESERVATION: u64 = 1 << 20;

/// A fetch rewrites an item's access time at most this often (memcached's
/// item update interval), so reads do not turn into a write each.
const ACCESS_UPDATE_INTERVAL: u64 = 60;

/// RocksDB's text log (`LOG`) rotates at this size ...
const ROCKSDB_LOG_FILE_SIZE: usize = 1 << 20;
/// ... and this many are kept, the current one included.
const ROCKSDB_LOG_FILES: usize = 4;
/// The manifest (the list of live files) is rewritten past this size.
const MANIFEST_FILE_SIZE: usize = 8 << 20;

/// Intra-L0 compaction merges at most `capacity` divided by this.
const MERGED_FILES_IN_CAPACITY: u64 = 8;

const META: &str = "meta";
const CAS_RESERVED_KEY: &[u8] = b"cas-reserved";
const FLUSH_KEY: &[u8] = b"flushed-before";

#[metric(name = "rocksdb_block_cache_usage", description = "bytes held by RocksDB's block cache")]
static BLOCK_CACHE_USAGE: Gauge = Gauge::new();
#[metric(name = "rocksdb_memtable_bytes", description = "bytes in RocksDB's memtables")]
static MEMTABLE_BYTES: Gauge = Gauge::new();
#[metric(name = "rocksdb_live_sst_bytes", description = "bytes of live RocksDB SST files")]
static LIVE_SST_BYTES: Gauge = Gauge::new();
#[metric(
    name = "rocksdb_pending_compaction_bytes",
    description = "bytes RocksDB estimates compaction must rewrite"
)]
static PENDING_COMPACTION_BYTES: Gauge = Gauge::new();

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

/// What a read makes of an item's stored bytes.
enum State {
    /// Live, with its header.
    Live(Header),
    /// Unreadable, or invalidated by `flush_all`.
    Missing,
    /// Past its expiry.
    Expired,
}

/// An item as a read finds it.
enum Lookup<'a> {
    /// Live: its header and its stored bytes (header and value), pinned.
    Live(Header, rocksdb::DBPinnableSlice<'a>),
    /// Never stored, deleted, flushed or evicted.
    Missing,
    /// Stored, but past its expiry.
    Expired,
}

/// Items in RocksDB; see the crate docs.
pub struct RocksStorage {
    db: Arc<DB>,
    path: PathBuf,
    write_options: WriteOptions,
    sync_writes: bool,
    /// Tells this store from others in the process, for `commit`.
    id: u64,
    track_access: bool,
    block_cache: Cache,
    items: ItemCache,
    locks: Box<[Mutex<()>]>,
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
        items.set_compression_type(match config.compression {
            Compression::None => DBCompressionType::None,
            Compression::Lz4 => DBCompressionType::Lz4,
            Compression::Zstd => DBCompressionType::Zstd,
        });
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
            &format!("{{max_table_files_size={};allow_compaction=true}}", config.capacity),
        )])
        .map_err(open_error)?;

        // Each write goes to the log; with `sync_writes`, `commit` fsyncs it
        // once for the writes of a round.
        let write_options = WriteOptions::default();
        let storage = Self {
            db,
            path: path.clone(),
            write_options,
            sync_writes: config.sync_writes,
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            track_access: config.track_access,
            block_cache,
            items: ItemCache::new(config.item_cache_size),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            next_cas: AtomicU64::new(0),
            cas_reserved: AtomicU64::new(0),
            cas_renewal: Mutex::new(()),
            filter_state: filter_state.clone(),
            evictions: Arc::new(EvictionCounter::new(filter_state, db_options)),
            watcher: None,
        };
        let mut storage = storage;
        storage.recover().map_err(|detail| OpenError::Meta { path: path.clone(), detail })?;
        storage.evictions.look(&storage.db);
        storage.watcher =
            Some(EvictionCounter::watch(storage.evictions.clone(), storage.db.clone()).map_err(|e| {
                OpenError::Meta { path, detail: format!("cannot start the eviction watcher: {e}") }
            })?);
        storage.refresh_stats();
        Ok(storage)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Restores the CAS counter and any pending flush from the meta family.
    fn recover(&self) -> Result<(), String> {
        // Values below the old reservation may have been handed out before a
        // crash: start above it. The first new value reserves a new block.
        let reserved = self.read_meta(CAS_RESERVED_KEY)?.unwrap_or(1);
        self.next_cas.store(reserved, Ordering::Release);
        self.cas_reserved.store(reserved, Ordering::Release);
        let flushed_before = self.read_meta(FLUSH_KEY)?.unwrap_or(0);
        self.filter_state.flushed_before.store(flushed_before, Ordering::Release);
        Ok(())
    }

    fn read_meta(&self, key: &[u8]) -> Result<Option<u64>, String> {
        let meta = self.db.cf_handle(META).ok_or("no meta column family")?;
        match self.db.get_pinned_cf(&meta, key).map_err(|e| e.to_string())? {
            None => Ok(None),
            Some(bytes) => {
                let bytes: [u8; 8] =
                    bytes.as_ref().try_into().map_err(|_| format!("bad meta value for {key:?}"))?;
                Ok(Some(u64::from_le_bytes(bytes)))
            }
        }
    }

    /// Persists `value` under a meta key, synced: bookkeeping must never
    /// go backwards after a crash.
    fn write_meta(&self, key: &[u8], value: u64) -> Result<(), StoreError> {
        let meta = self.db.cf_handle(META).ok_or_else(|| failure("no meta column family".into()))?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db.put_cf_opt(&meta, key, value.to_le_bytes(), &sync).map_err(write_failure)
    }

    /// A new CAS value: unique, increasing, and never reused after a
    /// restart. One atomic increment, plus a synced write of the next
    /// reservation once per [`CAS_RESERVATION`] values.
    fn new_cas(&self, given: Option<u64>) -> Result<u64, StoreError> {
        if let Some(cas) = given {
            return Ok(cas);
        }
        let cas = self.next_cas.fetch_add(1, Ordering::AcqRel);
        if cas < self.cas_reserved.load(Ordering::Acquire) {
            return Ok(cas);
        }
        let _renewal = self.cas_renewal.lock().unwrap_or_else(|e| e.into_inner());
        if cas >= self.cas_reserved.load(Ordering::Acquire) {
            let reserved = cas + CAS_RESERVATION;
            self.write_meta(CAS_RESERVED_KEY, reserved)?;
            self.cas_reserved.store(reserved, Ordering::Release);
        }
        Ok(cas)
    }

    /// The key's hash: it picks the lock stripe and the item cache shard.
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn lock(&self, hash: u64) -> MutexGuard<'_, ()> {
        self.locks[hash as usize % LOCK_STRIPES].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `stored`, the bytes under `key`, is at `now`.
    fn state(&self, key: &[u8], stored: &[u8], now: u64) -> State {
        let Some(header) = Header::decode(stored) else {
            log::warn!("ignoring an unreadable item under key {:?}", String::from_utf8_lossy(key));
            return State::Missing;
        };
        if header.expiry.is_expired(now) {
            return State::Expired;
        }
        let flushed_before = self.filter_state.flushed_before.load(Ordering::Acquire);
        if flushed_before <= now && header.stored_at < flushed_before {
            return State::Missing;
        }
        State::Live(header)
    }

    /// Reads `key`'s item from RocksDB as the protocol sees it at `now`.
    fn read(&self, key: &[u8], now: u64) -> Result<Lookup<'_>, StoreError> {
        let Some(stored) = self.db.get_pinned(key).map_err(read_failure)? else { return Ok(Lookup::Missing) };
        Ok(match self.state(key, &stored, now) {
            State::Live(header) => Lookup::Live(header, stored),
            State::Missing => Lookup::Missing,
            State::Expired => Lookup::Expired,
        })
    }

    /// A fetch that changes nothing, answered from `stored`; `None` when
    /// the item must be rewritten (its access time is due, or a win is to
    /// be handed out).
    fn fetch_read_only(
        &self,
        key: &[u8],
        stored: &[u8],
        fetch: &Fetch,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Option<Fetched> {
        let header = match self.state(key, stored, now) {
            State::Live(header) => header,
            State::Missing => return Some(Fetched::Miss { expired: false }),
            State::Expired => return Some(Fetched::Miss { expired: true }),
        };
        let due = self.track_access
            && !fetch.no_bump
            && (!header.fetched || now >= header.last_access + ACCESS_UPDATE_INTERVAL);
        // A stale item whose win is not yet given out must be written.
        let wins = header.stale && !header.win_sent;
        if due || wins {
            return None;
        }
        if let Some(value) = value {
            value.extend_from_slice(item::value(stored));
        }
        let size = stored.len() - HEADER_LEN;
        let already_won = header.stale && header.win_sent;
        Some(Fetched::Hit(found(&header, size, false, already_won, now)))
    }

    /// A fetch that changes nothing, from the item cache or else from
    /// RocksDB (filling the cache); `None` when the item must be rewritten.
    fn fetch_without_write(
        &self,
        key: &[u8],
        hash: u64,
        fetch: &Fetch,
        mut value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Option<Fetched>, StoreError> {
        let cached = self
            .items
            .get(hash, key, |stored| self.fetch_read_only(key, stored, fetch, value.as_deref_mut(), now));
        if let Some(answer) = cached {
            return Ok(answer);
        }
        // Filled under the key's lock, so that no write lands between the
        // read and the fill and is then hidden by the older item.
        let _guard = self.items.is_on().then(|| self.lock(hash));
        let epoch = self.items.epoch();
        let Some(stored) = self.db.get_pinned(key).map_err(read_failure)? else {
            return Ok(Some(Fetched::Miss { expired: false }));
        };
        #[cfg(test)]
        tests::BEFORE_FILL.with_borrow_mut(|hook| hook.as_mut().map(|hook| hook()));
        let answer = self.fetch_read_only(key, &stored, fetch, value, now);
        if !matches!(answer, Some(Fetched::Miss { .. })) {
            self.items.insert(epoch, hash, key, &stored);
        }
        Ok(answer)
    }

    /// Notes a write for this thread's next commit, which fsyncs the log
    /// only with `sync_writes`.
    fn wrote(&self) {
        if self.sync_writes {
            UNCOMMITTED.with_borrow_mut(|stores| {
                if !stores.contains(&self.id) {
                    stores.push(self.id);
                }
            });
        }
    }

    /// Writes an item whose value is the concatenation of `parts`, encoding
    /// it once into a reused buffer. The caller holds the key's lock.
    fn put(&self, key: &[u8], hash: u64, header: &Header, parts: &[&[u8]]) -> Result<(), StoreError> {
        self.put_with(key, hash, header, |out| parts.iter().for_each(|part| out.extend_from_slice(part)))
    }

    /// Writes an item whose value `value` appends after the header, in the
    /// reused buffer, to RocksDB and then to the item cache. The caller
    /// holds the key's lock.
    fn put_with(
        &self,
        key: &[u8],
        hash: u64,
        header: &Header,
        value: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        ENCODED.with_borrow_mut(|buffer| {
            header.encode_with(&[], buffer);
            value(buffer);
            let epoch = self.items.epoch();
            self.db.put_opt(key, &buffer[..], &self.write_options).map_err(write_failure)?;
            self.wrote();
            self.items.insert(epoch, hash, key, buffer);
            Ok(())
        })
    }
}

thread_local! {
    /// Where items are encoded before a write, reused so that a write
    /// allocates nothing in steady state.
    static ENCODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The stores (by [`RocksStorage::id`]) this thread wrote to since
    /// their last commit, which with `sync_writes` fsyncs the log: one entry
    /// per store, so that one store's commit does not stand for another's.
    static UNCOMMITTED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The next store's [`RocksStorage::id`].
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(0);

impl Storage for RocksStorage {
    fn fetch(
        &self,
        key: &[u8],
        fetch: Fetch,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Fetched, StoreError> {
        let mut value = value;
        let hash = self.hash(key);
        let changes_item = fetch.touch.is_some() || fetch.vivify.is_some() || fetch.recache_below.is_some();
        if !changes_item {
            // The common case: a plain read, without a lock when the item
            // cache has it, and no write unless the access time is due.
            if let Some(answer) = self.fetch_without_write(key, hash, &fetch, value.as_deref_mut(), now)? {
                return Ok(answer);
            }
        }
        // The item changes: read, decide and write under the key's lock.
        let _guard = self.lock(hash);
        let (mut header, stored) = match (self.read(key, now)?, fetch.vivify) {
            (Lookup::Live(header, stored), _) => (header, stored),
            (Lookup::Missing, None) => return Ok(Fetched::Miss { expired: false }),
            (Lookup::Expired, None) => return Ok(Fetched::Miss { expired: true }),
            (_, Some(expiry)) => {
                let mut header = Header::new(0, expiry, self.new_cas(fetch.new_cas)?, now);
                header.win_sent = true;
                self.put(key, hash, &header, &[])?;
                return Ok(Fetched::Hit(found(&header, 0, true, false, now)));
            }
        };
        let data = item::value(&stored);
        let previous = header;
        if let Some(expiry) = fetch.touch {
            header.expiry = expiry;
        }
        let ttl = header.expiry.ttl(now);
        let wants_win = header.stale
            || data.is_empty() && fetch.vivify.is_some()
            || matches!(fetch.recache_below, Some(below) if ttl != -1 && ttl < below);
        let (mut won, mut already_won) = (false, false);
        if wants_win {
            if header.win_sent {
                already_won = true;
            } else {
                header.win_sent = true;
                won = true;
            }
        }
        if self.track_access && !fetch.no_bump {
            header.fetched = true;
            header.last_access = now;
        }
        if let Some(value) = value {
            value.extend_from_slice(data);
        }
        let size = data.len();
        let mut result = found(&previous, size, won, already_won, now);
        result.info.expiry = header.expiry;
        if header != previous {
            self.put(key, hash, &header, &[data])?;
        }
        Ok(Fetched::Hit(result))
    }

    fn store(&self, key: &[u8], data: &[u8], request: Store, now: u64) -> Result<Stored, StoreError> {
        let hash = self.hash(key);
        let _guard = self.lock(hash);
        let existing = match request.mode {
            // A plain set without CAS does not care what is there.
            StoreMode::Set if request.compare_cas.is_none() => None,
            _ => match self.read(key, now)? {
                Lookup::Live(header, stored) => Some((header, stored)),
                Lookup::Missing | Lookup::Expired => None,
            },
        };
        let mut stale = false;
        match (&existing, request.compare_cas) {
            (None, Some(_)) => return Ok(Stored::NotFound),
            (Some((header, _)), Some(cas)) if header.cas != cas => {
                if request.invalidate && cas < header.cas {
                    stale = true;
                } else {
                    return Ok(Stored::Exists);
                }
            }
            _ => {}
        }
        let cas_for = |this: &Self| this.new_cas(request.new_cas);
        let (header, size) = match (request.mode, existing) {
            (StoreMode::Add, Some(_)) | (StoreMode::Replace, None) => return Ok(Stored::NotStored),
            (StoreMode::Append | StoreMode::Prepend, None) => {
                let Some(expiry) = request.vivify else { return Ok(Stored::NotStored) };
                let header = Header::new(request.flags, expiry, cas_for(self)?, now);
                self.put(key, hash, &header, &[data])?;
                (header, data.len())
            }
            (mode @ (StoreMode::Append | StoreMode::Prepend), Some((old, stored))) => {
                let current = item::value(&stored);
                let size = current.len() + data.len();
                if size > request.max_size {
                    return Ok(Stored::TooLarge);
                }
                let header = Header::new(old.flags, old.expiry, cas_for(self)?, now);
                let parts = match mode {
                    StoreMode::Append => [current, data],
                    _ => [data, current],
                };
                self.put(key, hash, &header, &parts)?;
                (header, size)
            }
            (StoreMode::Set | StoreMode::Add | StoreMode::Replace, _) => {
                let mut header = Header::new(request.flags, request.expiry, cas_for(self)?, now);
                header.stale = stale;
                self.put(key, hash, &header, &[data])?;
                (header, data.len())
            }
        };
        Ok(Stored::Stored { cas: header.cas, size: size as u64 })
    }

    fn delete(&self, key: &[u8], request: Delete, now: u64) -> Result<Deleted, StoreError> {
        let hash = self.hash(key);
        let _guard = self.lock(hash);
        let Lookup::Live(mut header, stored) = self.read(key, now)? else { return Ok(Deleted::NotFound) };
        if matches!(request.compare_cas, Some(cas) if cas != header.cas) {
            return Ok(Deleted::Exists);
        }
        if !(request.invalidate || request.remove_value) {
            self.db.delete_opt(key, &self.write_options).map_err(write_failure)?;
            self.wrote();
            self.items.remove(hash, key);
            return Ok(Deleted::Deleted);
        }
        if request.invalidate {
            header.stale = true;
            header.win_sent = false;
            if let Some(expiry) = request.touch {
                header.expiry = expiry;
            }
        }
        header.cas = self.new_cas(request.new_cas)?;
        let value = if request.remove_value { &[][..] } else { item::value(&stored) };
        self.put(key, hash, &header, &[value])?;
        Ok(Deleted::Deleted)
    }

    fn arithmetic(&self, key: &[u8], request: Arithmetic, now: u64) -> Result<Counted, StoreError> {
        let hash = self.hash(key);
        let _guard = self.lock(hash);
        let mut digits = [0u8; 20];
        let Lookup::Live(mut header, stored) = self.read(key, now)? else {
            let Some((initial, expiry)) = request.vivify else { return Ok(Counted::NotFound) };
            let header = Header::new(0, expiry, self.new_cas(request.new_cas)?, now);
            let text = format_u64(initial, &mut digits);
            self.put(key, hash, &header, &[text])?;
            return Ok(Counted::Value(initial, header.info(text.len())));
        };
        if matches!(request.compare_cas, Some(cas) if cas != header.cas) {
            return Ok(Counted::Exists);
        }
        let Some(counter) = next_counter(item::value(&stored), request.increment, request.delta) else {
            return Ok(Counted::NonNumeric);
        };
        header.cas = self.new_cas(request.new_cas)?;
        header.stored_at = now;
        if let Some(expiry) = request.touch {
            header.expiry = expiry;
        }
        self.put_with(key, hash, &header, |out| counter.write(out))?;
        Ok(Counted::Value(counter.value, header.info(counter.stored_len())))
    }

    fn flush_all(&self, at: u64, now: u64) -> Result<(), StoreError> {
        if at > now {
            // Later: remember the moment; reads and the next writes compare
            // each item's store time with it.
            self.write_meta(FLUSH_KEY, at)?;
            self.filter_state.flushed_before.store(at, Ordering::Release);
            return Ok(());
        }
        // Now: one range tombstone over every possible key (at most 250
        // bytes, so all sort below 251 bytes of 0xff), through the log like
        // any write, so it holds after a restart. Writes that follow sort
        // above it in sequence and survive.
        let mut batch = WriteBatch::default();
        batch.delete_range(&[][..], &[0xffu8; 251][..]);
        self.db.write_opt(batch, &self.write_options).map_err(write_failure)?;
        self.wrote();
        self.items.clear();
        // As in memcached, a flush now replaces one still pending.
        if self.filter_state.flushed_before.load(Ordering::Acquire) > now {
            self.write_meta(FLUSH_KEY, 0)?;
            self.filter_state.flushed_before.store(0, Ordering::Release);
        }
        Ok(())
    }

    fn commit(&self) -> Result<(), StoreError> {
        let wrote = UNCOMMITTED.with_borrow_mut(|stores| {
            stores.iter().position(|id| *id == self.id).map(|at| stores.swap_remove(at)).is_some()
        });
        if wrote {
            // The log was written with each write; this fsyncs it.
            self.db.flush_wal(true).map_err(write_failure)?;
        }
        Ok(())
    }

    fn refresh_stats(&self) {
        let property = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        let memtables = property("rocksdb.cur-size-all-mem-tables");
        let sst = property("rocksdb.live-sst-files-size");
        CURR_ITEMS.set(property("rocksdb.estimate-num-keys") as i64);
        BYTES.set((memtables + sst) as i64);
        MEMTABLE_BYTES.set(memtables as i64);
        LIVE_SST_BYTES.set(sst as i64);
        PENDING_COMPACTION_BYTES.set(property("rocksdb.estimate-pending-compaction-bytes") as i64);
        BLOCK_CACHE_USAGE.set(self.block_cache.get_usage() as i64);
        self.evictions.look(&self.db);
    }
}

impl RocksStorage {
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
    pub fn flush_memtables(&self) -> Result<(), StoreError> {
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

fn found(header: &Header, size: usize, won: bool, already_won: bool, now: u64) -> Found {
    Found {
        info: header.info(size),
        stale: header.stale,
        won,
        already_won,
        fetched_before: header.fetched,
        idle_seconds: now.saturating_sub(header.last_access),
    }
}

fn failure(detail: String) -> StoreError {
    StoreError { reply: "storage failure", detail }
}

fn read_failure(error: rocksdb::Error) -> StoreError {
    StoreError { reply: "storage read failed", detail: error.to_string() }
}

fn write_failure(error: rocksdb::Error) -> StoreError {
    StoreError { reply: "storage write failed", detail: error.to_string() }
}

#[cfg(test)]
mod tests;
