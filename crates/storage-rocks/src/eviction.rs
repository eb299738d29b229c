//! The eviction thread: before RocksDB drops the oldest file, the items in
//! it that were read since written are written again, so that a hot item
//! outlives the file it was written to (CLOCK over files, with S3-FIFO's
//! counts: `access.rs`). It also tells merges when the store is nearly
//! full (probation, `compaction.rs`) and counts what leaves with the file
//! as evicted.
//!
//! Whenever RocksDB's files changed (`versions.rs`: looked at every 10 ms
//! while the store is written; probation and reinsertion judge items best
//! soon after a flush, docs/performance.md section 22), the thread lists
//! the live files and orders them by their newest journal record
//! (`journal.rs`). The files that the next
//! flushes will push out, oldest first, are those within
//! [`REINSERT_HEADROOM`] memtables of the capacity; for each one not yet
//! looked at, it reads the journal records up to the file's newest, and
//! settles the items they name (`reinsertion.rs`): each that is still the
//! one recorded, live and read since is written again, and the rest are
//! counted as evicted.
//!
//! An item counted as evicted is still in RocksDB until its file goes, and
//! may be in the item cache: once no file that could hold it is left, the
//! thread takes it out of the item cache (under its key's stripe, so that
//! no read fills it back from the file), and so `get` agrees with
//! `evictions`. The same for the items merges drop on probation, once
//! their merge is in place; and the whole cache is emptied when files went
//! before they were looked at, whose keys are not known.

use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use petrel_protocol_memcache::rules::ItemMeta;
use petrel_protocol_memcache::{EVICTIONS, Eviction, Expiry, log_eviction, unix_now};
use rocksdb::{DB, WriteOptions};

use crate::access::Access;
use crate::compaction::FilterState;
use crate::item;
use crate::item_cache::ItemCache;
use crate::journal::{self, Journal, JournalBuffer};
use crate::stripes::{HeldStripes, Stripes};
use crate::versions::VersionWatch;

/// Files within this many memtables of the capacity are about to go.
const REINSERT_HEADROOM: u64 = 2;
/// Within this many, merges drop unread newcomers.
const PROBATION_HEADROOM: u64 = 4;

/// Counts an item evicted, and logs it for `watch evictions`; `fetched`:
/// it was ever read.
pub(crate) fn count_eviction(
    state: &FilterState,
    key: &[u8],
    stored: &[u8],
    meta: Option<ItemMeta>,
    fetched: bool,
) {
    EVICTIONS.increment();
    state.evicted.fetch_add(1, Ordering::Relaxed);
    if let Some(meta) = meta.filter(|_| petrel_protocol_memcache::evictions_watched()) {
        let now = unix_now();
        log_eviction(Eviction {
            key,
            fetched: fetched || meta.fetched,
            ttl: match meta.expiry {
                Expiry::Never => None,
                Expiry::At(at) => Some(at.saturating_sub(now)),
            },
            idle: now.saturating_sub(meta.last_access.max(meta.stored_at)),
            size: stored.len().saturating_sub(item::HEADER_LEN),
        });
    }
}

/// Items the store holds: entries of live files and memtables that are
/// not deletions, less the journal's records. Versions of a key not yet
/// merged away count each. (RocksDB's own estimate takes each deletion to
/// remove an entry, and probation's leave many more behind than that.)
pub(crate) fn count_items(db: &DB, journal: &Journal) -> u64 {
    let property = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
    let in_files: u64 = db
        .live_files()
        .map(|files| {
            files
                .iter()
                .filter(|file| file.column_family_name == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
                .map(|file| file.num_entries.saturating_sub(file.num_deletions))
                .sum()
        })
        .unwrap_or(0);
    let in_memtables = (property("rocksdb.num-entries-active-mem-table")
        + property("rocksdb.num-entries-imm-mem-tables"))
    .saturating_sub(
        property("rocksdb.num-deletes-active-mem-table") + property("rocksdb.num-deletes-imm-mem-tables"),
    );
    let mut records = db.raw_iterator();
    records.seek(journal::PREFIX);
    let oldest_record = records.key().and_then(journal::position).unwrap_or(journal.next());
    (in_files + in_memtables).saturating_sub(journal.next().saturating_sub(oldest_record))
}

/// What the thread needs of the store.
pub(crate) struct Evictor {
    pub(crate) db: Arc<DB>,
    pub(crate) access: Arc<Access>,
    pub(crate) journal: Arc<Journal>,
    pub(crate) flush_gate: Arc<parking_lot::RwLock<()>>,
    pub(crate) stripes: Stripes,
    pub(crate) hasher: RandomState,
    pub(crate) filter_state: Arc<FilterState>,
    /// Evicted items leave it (see the module docs).
    pub(crate) items: Arc<ItemCache>,
    pub(crate) capacity: u64,
    pub(crate) memtable: u64,
    /// `write_stall = "busy"`: the store refuses writes while RocksDB
    /// stalls them.
    pub(crate) busy_on_stall: bool,
    /// What passes carry over; made by the first.
    pub(crate) state: Mutex<Option<Pass>>,
}

/// A live file as a pass saw it.
struct FileSeen {
    name: String,
    /// The position of its newest journal record: files go in this order.
    newest_record: u64,
    /// Entries that are not deletions.
    items: u64,
}

/// What passes carry over.
pub(crate) struct Pass {
    /// Journal records before this position have been looked at.
    pub(crate) frontier: u64,
    /// The files the last pass saw.
    seen: Vec<FileSeen>,
    pub(crate) held: HeldStripes,
    pub(crate) journal: JournalBuffer,
    /// Copies a stall refused, to try again: keys and CASes, encoded as a
    /// journal record's entries.
    pub(crate) refused: Vec<u8>,
    /// Items counted as evicted that may still be in the item cache: the
    /// newest journal record of the file they go with, and their key's
    /// hash, oldest first.
    pub(crate) doomed: VecDeque<(u64, u64)>,
    pub(crate) write_options: WriteOptions,
}

impl Evictor {
    /// Starts the thread; it stops when the sender is dropped.
    pub(crate) fn start(self: Arc<Self>) -> std::io::Result<(mpsc::Sender<()>, JoinHandle<()>)> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("eviction".into()).spawn(move || {
            let mut files = VersionWatch::default();
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(files.interval()) {
                if files.changed(&self.db) {
                    self.pass_now();
                } else {
                    self.write_idle_records();
                }
            }
        })?;
        Ok((stop, thread))
    }

    /// One pass, now (the thread's, or a test's that writes faster than
    /// passes follow).
    pub(crate) fn pass_now(&self) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let pass = state.get_or_insert_with(|| self.first_pass());
        self.pass(pass);
    }

    /// Settles every item the journal names from the frontier on, whatever
    /// the files (a test's look at the copies alone).
    #[cfg(test)]
    pub(crate) fn settle_all_now(&self) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let pass = state.get_or_insert_with(|| self.first_pass());
        self.reinsert_through(pass, u64::MAX);
    }

    /// Between passes: the journal records of workers gone quiet.
    fn write_idle_records(&self) {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pass) = state.as_ref() {
            self.journal.write_idle(&self.db, &pass.write_options);
        }
    }

    fn first_pass(&self) -> Pass {
        let mut write_options = WriteOptions::default();
        // The item is on disk already, in the file about to go: if the
        // process dies before the copy's memtable is flushed, the item is
        // evicted, which is all the copy was to prevent. So copies skip the
        // write-ahead log (a write of each hot item saved).
        write_options.disable_wal(true);
        // On a stall, copies wait as the workers' writes do, or are refused
        // as theirs are with `write_stall = "busy"` (and tried again). Were
        // they refused while workers wait, a write-heavy load would keep
        // them out: the waiting writes go first when room comes.
        write_options.set_no_slowdown(self.busy_on_stall);
        Pass {
            frontier: self.oldest_record(),
            seen: Vec::new(),
            held: HeldStripes::new(self.stripes.clone()),
            journal: JournalBuffer::new(self.memtable),
            refused: Vec::new(),
            doomed: VecDeque::new(),
            write_options,
        }
    }

    /// The position of the oldest journal record on disk.
    fn oldest_record(&self) -> u64 {
        let mut iterator = self.db.raw_iterator();
        iterator.seek(journal::PREFIX);
        iterator.key().and_then(journal::position).unwrap_or(0)
    }

    /// One look at the files; see the module docs.
    fn pass(&self, pass: &mut Pass) {
        self.journal.write_idle(&self.db, &pass.write_options);
        let property = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        let disk = property("rocksdb.live-sst-files-size") + property("rocksdb.live-blob-file-size");
        let items = count_items(&self.db, &self.journal);
        let nearly_full = disk + PROBATION_HEADROOM * self.memtable >= self.capacity;
        self.access.set_fill(nearly_full, items);
        let Ok(files) = self.db.live_files() else { return };
        let mut files: Vec<FileSeen> = files
            .into_iter()
            .filter(|file| file.column_family_name == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
            .map(|file| FileSeen {
                // A file without a record (a flush of a few writes, or one
                // written before the journal) is taken as the newest: its
                // items are named by a later record, if by any.
                newest_record: file.end_key.as_deref().and_then(journal::position).unwrap_or(u64::MAX),
                items: file.num_entries.saturating_sub(file.num_deletions),
                name: file.name,
            })
            .collect();
        files.sort_unstable_by_key(|file| file.newest_record);
        self.count_unseen_drops(pass, &files);
        self.forget_evicted(pass, files.first().map_or(u64::MAX, |file| file.newest_record));
        // Bytes the next flushes push out, oldest files first. RocksDB
        // reckons each file (with its blob files) as an equal share of the
        // data when it drops files, whatever its size: so do the same, or a
        // large merged file going would take smaller ones with it unseen.
        let leaving = (disk + REINSERT_HEADROOM * self.memtable).saturating_sub(self.capacity);
        let share = disk / files.len().max(1) as u64;
        let mut before = 0;
        for file in &files {
            if before >= leaving {
                break;
            }
            if file.newest_record >= pass.frontier && file.newest_record != u64::MAX {
                self.reinsert_through(pass, file.newest_record);
                pass.frontier = file.newest_record + 1;
            }
            before += share;
        }
        pass.seen = files;
    }

    /// Writes faster than passes can follow drop files before they are
    /// looked at: their items are counted as evicted (every entry but the
    /// records, so an overcount by the older versions among them).
    fn count_unseen_drops(&self, pass: &mut Pass, files: &[FileSeen]) {
        for gone in pass.seen.iter().filter(|seen| !files.iter().any(|file| file.name == seen.name)) {
            // A merged file's records live on in the merge's output.
            let dropped = gone.newest_record >= pass.frontier
                && gone.newest_record != u64::MAX
                && matches!(self.db.get_pinned(journal::key(gone.newest_record)), Ok(None));
            if dropped {
                // Its records are those from the frontier to its newest.
                let items = gone.items.saturating_sub(gone.newest_record + 1 - pass.frontier);
                EVICTIONS.add(items);
                self.filter_state.evicted.fetch_add(items, Ordering::Relaxed);
                pass.frontier = gone.newest_record + 1;
                // Its keys are not known: none of them may be served.
                self.items.clear();
            }
        }
    }

    /// Takes out of the item cache the items evicted whose files are gone
    /// (no live file's newest record is as old as theirs: the oldest is
    /// `oldest_record`), and those dropped by merges in place.
    fn forget_evicted(&self, pass: &mut Pass, oldest_record: u64) {
        let mut gone = self.filter_state.dropped.take_merged();
        while let Some(&(record, hash)) = pass.doomed.front() {
            if record >= oldest_record {
                break;
            }
            gone.push(hash);
            pass.doomed.pop_front();
        }
        if !self.items.is_on() {
            return;
        }
        for hash in gone {
            pass.held.take_waiting(Stripes::of(hash));
            self.items.remove(hash);
            pass.held.release_all();
        }
    }
}
