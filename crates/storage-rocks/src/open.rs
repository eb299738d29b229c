//! Opening the store: RocksDB's options, the shared state, what a
//! reopened store recovers, and the eviction threads.

use std::path::PathBuf;
use std::sync::Arc;

use petrel_memcache_service::EvictionLog;
use rocksdb::{Cache, ColumnFamilyDescriptor, DB, WriteOptions};

use crate::bookkeeping::META;
use crate::config::{StorageConfig, WriteStall};
use crate::eviction::{self, Merger, Retirement};
use crate::shared::Shared;
use crate::{RocksStorage, background, options};

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

/// Opens (or creates) the store at `config.path`.
pub(crate) fn open(
    config: &StorageConfig,
    eviction_log: Arc<dyn EvictionLog>,
) -> Result<RocksStorage, OpenError> {
    let path = config.path.clone();
    let block_cache = Cache::new_hyper_clock_cache(config.block_cache_size, 0);
    let shared = Arc::new(Shared::new(config, eviction_log));
    let mut items = options::items(config, &block_cache);
    items.set_compaction_filter("petrel-drop-dead-items", eviction::drop_dead_items(shared.clone()));
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
    // schedules them (eviction/merging.rs). The options API has no switch
    // for them; the option string does.
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
    // would stall fails at once (see `failure::write_failure`).
    let mut write_options = WriteOptions::default();
    write_options.set_sync(config.sync_writes);
    write_options.set_no_slowdown(config.write_stall == WriteStall::Busy);
    let mut storage = RocksStorage {
        retirement: Arc::new(Retirement::new(db.clone(), shared.clone())),
        merger: Arc::new(Merger::new(db.clone(), shared.clone())),
        db,
        shared,
        path: path.clone(),
        write_options,
        track_access: config.track_access,
        block_cache,
        statistics: db_options,
        cas: Default::default(),
        threads: Vec::new(),
        #[cfg(test)]
        before_fill: std::sync::Mutex::new(None),
    };
    storage.recover().map_err(|detail| OpenError::Meta { path: path.clone(), detail })?;
    let thread_error =
        |e| OpenError::Meta { path: path.clone(), detail: format!("cannot start a thread: {e}") };
    storage.threads.push(storage.retirement.clone().start().map_err(thread_error)?);
    storage.threads.push(storage.merger.clone().start().map_err(thread_error)?);
    Ok(storage)
}
