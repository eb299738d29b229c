//! What RocksDB's background work does to items, and how it is counted.
//!
//! The items column family uses FIFO compaction with intra-L0 compaction on:
//!
//! - **Merging.** Once four small files (memtable flushes) accumulate,
//!   RocksDB merges them into one. Gets consult one filter per file, so
//!   fewer files make reads cheaper, and the merge keeps one version of each
//!   key. On the way, [`drop_dead_items`] removes items that have expired or
//!   were flushed by `flush_all`: they stop costing disk (`reclaimed`).
//! - **Eviction.** Once the files exceed the capacity, RocksDB deletes the
//!   oldest file whole. Nothing reads it, so [`EvictionCounter`] works out
//!   evictions from the files that vanish, less what compactions consumed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use metriken::{Counter, metric};
use petrel_protocol_memcache::rules::{self, Liveness};
use petrel_protocol_memcache::{EVICTIONS, unix_now};
use rocksdb::compaction_filter::Decision;
use rocksdb::statistics::Ticker;
use rocksdb::{DB, Options};

use crate::item;

/// Expired or flushed items that compaction dropped.
#[metric(name = "reclaimed", description = "expired or flushed items whose disk space compaction reclaimed")]
pub static RECLAIMED: Counter = Counter::new();

/// What the compaction filter shares with the store.
#[derive(Default)]
pub struct FilterState {
    /// Items stored before this Unix time are gone once it has passed
    /// (`flush_all`).
    pub flushed_before: AtomicU64,
    /// Items the filter has seen, kept or dropped: entries compactions
    /// consumed, which the eviction count must not include.
    pub filtered: AtomicU64,
}

/// The compaction filter: drops items no read can return any more.
/// Dropping writes a tombstone in the merged file, so no older version of
/// the key resurfaces.
pub fn drop_dead_items(state: Arc<FilterState>) -> impl Fn(u32, &[u8], &[u8]) -> Decision + Send + 'static {
    move |_level, _key, stored| {
        state.filtered.fetch_add(1, Ordering::Relaxed);
        let Some(meta) = item::decode(stored) else { return Decision::Keep };
        let flushed_before = state.flushed_before.load(Ordering::Acquire);
        match rules::liveness(&meta, unix_now(), flushed_before) {
            Liveness::Live => Decision::Keep,
            Liveness::Expired | Liveness::Flushed => {
                RECLAIMED.increment();
                Decision::Remove
            }
        }
    }
}

/// Counts evicted items. A file vanishes either because FIFO evicted it or
/// because a compaction merged it; the entries of vanished files, less the
/// entries compactions consumed (seen by the filter, or dropped as older
/// versions or as covered by a `flush_all`), are evictions. A compaction
/// is counted while it runs and its input files vanish when it ends, so the
/// difference is carried over until they do.
///
/// A file created and evicted between two looks is not counted. Looking
/// every [`EVICTION_WATCH_INTERVAL`] sees every file unless a memtable fills
/// in less than that (160 MB/s of writes with the default 32 MiB), or an
/// eighth of the capacity (the most one merge writes) is written in less.
pub struct EvictionCounter {
    state: Arc<FilterState>,
    /// RocksDB's statistics, for the entries compactions dropped unseen.
    pub(crate) statistics: Options,
    tally: Mutex<Tally>,
    /// Evictions this store counted, for tests.
    evicted: AtomicU64,
}

#[derive(Default)]
struct Tally {
    /// SST files seen at the last look: name, entries that are not deletions.
    seen: Vec<(String, u64)>,
    /// Entries compactions had consumed at the last look.
    consumed: u64,
    /// Entries of vanished files not yet matched by what compactions
    /// consumed (negative while a compaction's inputs are still live).
    balance: i64,
}

/// How often the watcher looks at the live SST files.
pub const EVICTION_WATCH_INTERVAL: Duration = Duration::from_millis(200);

impl EvictionCounter {
    /// A counter reading compaction statistics from `statistics`, the
    /// options the database was opened with (statistics enabled).
    pub fn new(state: Arc<FilterState>, statistics: Options) -> Self {
        Self { state, statistics, tally: Mutex::default(), evicted: AtomicU64::new(0) }
    }

    /// Compares the live files with the last look and counts evictions.
    pub fn look(&self, db: &DB) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        // Read what compactions consumed before the files: a compaction that
        // ends in between is then seen consuming before its inputs vanish.
        let consumed = self.state.filtered.load(Ordering::Acquire)
            + self.statistics.get_ticker_count(Ticker::CompactionKeyDropNewerEntry)
            + self.statistics.get_ticker_count(Ticker::CompactionKeyDropRangeDel);
        let Ok(files) = db.live_files() else { return };
        let live: Vec<(String, u64)> = files
            .into_iter()
            .map(|file| (file.name, file.num_entries.saturating_sub(file.num_deletions)))
            .collect();
        let vanished: u64 = tally
            .seen
            .iter()
            .filter(|(name, _)| !live.iter().any(|(now, _)| now == name))
            .map(|(_, entries)| entries)
            .sum();
        tally.balance += vanished as i64 - consumed.saturating_sub(tally.consumed) as i64;
        tally.consumed = consumed;
        tally.seen = live;
        if tally.balance > 0 {
            EVICTIONS.add(tally.balance as u64);
            self.evicted.fetch_add(tally.balance as u64, Ordering::Relaxed);
            tally.balance = 0;
        }
    }

    /// Evictions this store has counted.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Starts the thread that looks periodically until the sender is dropped.
    pub fn watch(counter: Arc<Self>, db: Arc<DB>) -> std::io::Result<(mpsc::Sender<()>, JoinHandle<()>)> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("evictions".into()).spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVICTION_WATCH_INTERVAL) {
                counter.look(&db);
            }
        })?;
        Ok((stop, thread))
    }
}
