//! `[storage]`: where items live and how RocksDB is tuned.

use std::path::PathBuf;

use petrel_config::ValueError;
use serde::{Deserialize, Serialize};

/// `[storage]`. The defaults fit a small machine: 192 MiB of item cache,
/// 64 MiB of block cache, 2 × 32 MiB memtables and 1 GiB of disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of the RocksDB database; created if missing.
    pub path: PathBuf,
    /// Most bytes of item data kept on disk. Past it the oldest items (by
    /// the time they were written) are evicted and counted in `evictions`.
    pub capacity: u64,
    /// Memory for the item cache: recently read items (kept current by their writes), served
    /// without a RocksDB lookup. 0 turns it off.
    pub item_cache_size: usize,
    /// Memory for RocksDB's block cache: blocks of the files on disk, so
    /// that items missing from the item cache are read without disk I/O.
    pub block_cache_size: usize,
    /// Size of one memtable; recent writes are read from it. At most a
    /// sixty-fourth of `capacity` is used (see `memtable_size`).
    pub write_buffer_size: usize,
    /// Memtables kept before writes stall for a flush.
    pub write_buffer_count: i32,
    /// Compression of data on disk: "none", "lz4" or "zstd".
    pub compression: Compression,
    /// Items at least this large are written to blob files beside the
    /// table files when memtables are flushed, so that merges move only
    /// their keys; 0 keeps every item in the table files.
    pub blob_threshold: u64,
    /// Threads RocksDB uses for flushes and compactions.
    pub background_jobs: i32,
    /// Record reads in the item (the meta `h` and `l` flags): the first read
    /// of an item, and then one read a minute, rewrites it. Off, reads never
    /// write; `h` answers 0 and `l` the seconds since the item was written.
    pub track_access: bool,
    /// fsync the write-ahead log before acknowledging writes, so that an
    /// acknowledged write survives power loss and not just a crash of the
    /// process. One disk flush per round of the worker's event loop, for
    /// all the writes served in it.
    pub sync_writes: bool,
    /// What a write meets when RocksDB stalls writes (memtables or level-0
    /// files waiting for flushes and merges): "wait" until the stall ends,
    /// or "busy": refused at once with `SERVER_ERROR 307 busy`, which
    /// mcrouter reads as busy and fails over, while reads go on.
    pub write_stall: WriteStall,
}

/// What a write meets when RocksDB stalls writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteStall {
    /// The worker waits for the stall to end. On a core shared with
    /// RocksDB's background threads, that wait is what lets them run.
    Wait,
    /// The write is refused with `SERVER_ERROR 307 busy`; the worker goes
    /// on. For servers whose background threads have cores of their own.
    Busy,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            capacity: 1 << 30,
            item_cache_size: 192 << 20,
            block_cache_size: 64 << 20,
            write_buffer_size: 32 << 20,
            write_buffer_count: 2,
            compression: Compression::Lz4,
            blob_threshold: 16 << 10,
            background_jobs: 2,
            track_access: false,
            sync_writes: false,
            write_stall: WriteStall::Wait,
        }
    }
}

/// A memtable holds at most `capacity` divided by this: eviction works a
/// flushed file at a time, and coarse files keep fewer hot items ...
pub(crate) const MEMTABLES_IN_CAPACITY: u64 = 64;
/// ... but no less than this, so that flushes stay few.
const SMALLEST_MEMTABLE: u64 = 256 << 10;

impl StorageConfig {
    /// Most bytes of live write-ahead log: twice the memtables. Disk use is
    /// at most `capacity` plus this, plus the spent log files kept for
    /// reuse (four, each about a memtable's writes: `options.rs`), plus a
    /// few small bookkeeping files.
    pub fn wal_limit(&self) -> u64 {
        2 * self.memtable_size() * self.write_buffer_count as u64
    }

    /// The size of one memtable: `write_buffer_size`, but at most a
    /// sixty-fourth of the capacity (and no less than 256 KiB).
    pub fn memtable_size(&self) -> u64 {
        (self.write_buffer_size as u64).min((self.capacity / MEMTABLES_IN_CAPACITY).max(SMALLEST_MEMTABLE))
    }

    /// Checks the section, reporting keys under `section`.
    pub fn validate(&self, section: &str) -> Result<(), ValueError> {
        if self.capacity < 4 * self.write_buffer_size as u64 {
            return Err(ValueError::new(section, "capacity", "must be at least 4 × write_buffer_size"));
        }
        if self.write_buffer_size < 1 << 20 {
            return Err(ValueError::new(section, "write_buffer_size", "must be at least 1 MiB"));
        }
        if !(2..=64).contains(&self.write_buffer_count) {
            return Err(ValueError::new(section, "write_buffer_count", "must be from 2 to 64"));
        }
        if !(1..=64).contains(&self.background_jobs) {
            return Err(ValueError::new(section, "background_jobs", "must be from 1 to 64"));
        }
        Ok(())
    }
}

/// Compression of data on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// None.
    None,
    /// LZ4: fast, modest ratio.
    Lz4,
    /// Zstandard: slower, better ratio.
    Zstd,
}
