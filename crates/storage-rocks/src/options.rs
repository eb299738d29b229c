//! RocksDB's options for the store: the items family, the database, the
//! meta family.

use rocksdb::statistics::StatsLevel;
use rocksdb::{
    BlockBasedOptions, Cache, DBCompactionStyle, DBCompressionType, DataBlockIndexType, FifoCompactOptions,
    Options,
};

use crate::{Compression, StorageConfig};

/// RocksDB's text log (`LOG`) rotates at this size ...
const ROCKSDB_LOG_FILE_SIZE: usize = 1 << 20;
/// ... and this many are kept, the current one included.
const ROCKSDB_LOG_FILES: usize = 4;
/// Spent log files kept to be written again: as many as can be live at
/// once (the mutable memtable's and one per memtable waiting for its
/// flush), so a new log rarely needs a new file.
const LOG_FILES_KEPT_FOR_REUSE: usize = 4;
/// Bytes written to a file between requests to the kernel to start
/// writing them back (`sync_file_range`, which does not wait).
const WRITE_BACK_STEP: u64 = 1 << 20;
/// The manifest (the list of live files) is rewritten past this size.
const MANIFEST_FILE_SIZE: usize = 8 << 20;

/// The items family: tuned for point lookups, FIFO compaction within the
/// capacity (merges are the store's: `eviction/merging.rs`). The compaction filter
/// is set by the caller.
pub(crate) fn items(config: &StorageConfig, block_cache: &Cache) -> Options {
    // Tuned for point lookups, the only reads a cache makes. FIFO keeps
    // every file in level 0, so a get consults each file's filter: keep
    // those filters and indexes pinned rather than looked up per get.
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(block_cache);
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
    items.set_write_buffer_size(config.memtable_size() as usize);
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
        items.set_blob_file_size(config.memtable_size());
        items.set_blob_compression_type(compression);
        items.set_enable_blob_gc(false);
        items.set_blob_cache(block_cache);
    }
    items.set_compaction_style(DBCompactionStyle::Fifo);
    let mut fifo = FifoCompactOptions::default();
    fifo.set_max_table_files_size(config.capacity);
    items.set_fifo_compaction_options(&fifo);
    items
}

/// The database's options, from the items family's.
pub(crate) fn database(items: &Options, config: &StorageConfig) -> Options {
    let mut db_options = items.clone();
    db_options.create_if_missing(true);
    db_options.create_missing_column_families(true);
    db_options.set_max_background_jobs(config.background_jobs);
    // The meta family is written rarely, so its memtable would pin every
    // log file since its first write; past this total RocksDB flushes it.
    db_options.set_max_total_wal_size(config.wal_limit());
    // A spent log file is written again in place: a write into blocks the
    // file has neither allocates nor grows it. RocksDB then refuses writes
    // without the log, so every write of the store is logged.
    db_options.set_recycle_log_file_num(LOG_FILES_KEPT_FOR_REUSE);
    // Dirty pages of the log and of flushed and merged files go to the
    // disk a megabyte at a time as they are written, rather than in bursts
    // at the kernel's write-back or a file's fsync, which a worker's log
    // append would wait behind: the p99 of sets at a fixed rate about halved.
    db_options.set_wal_bytes_per_sync(WRITE_BACK_STEP);
    db_options.set_bytes_per_sync(WRITE_BACK_STEP);
    // RocksDB's own files besides the data: its text log (a few KB per
    // flush and compaction, which a busy small store does every second)
    // rotates and keeps a few, and the manifest is rewritten compactly
    // once it reaches its limit, so neither grows without bound.
    db_options.set_max_log_file_size(ROCKSDB_LOG_FILE_SIZE);
    db_options.set_keep_log_file_num(ROCKSDB_LOG_FILES);
    db_options.set_max_manifest_file_size(MANIFEST_FILE_SIZE);
    // Counters only (no histograms or timers): what reached the disk.
    db_options.enable_statistics();
    db_options.set_statistics_level(StatsLevel::ExceptHistogramOrTimers);

    db_options
}

/// The meta family holds two small values. Its memtable is kept small
/// because RocksDB, after a full disk, resumes writing only once the free
/// space exceeds every family's write buffer.
pub(crate) fn meta() -> Options {
    let mut options = Options::default();
    options.set_write_buffer_size(META_WRITE_BUFFER_SIZE);
    options
}

const META_WRITE_BUFFER_SIZE: usize = 256 << 10;
