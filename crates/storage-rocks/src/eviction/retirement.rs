//! Retirement of the oldest files, in the eviction thread: before RocksDB
//! drops the oldest file, the items in it that were read since written are
//! written again, so that a hot item outlives the file it was written to
//! (CLOCK over files, with S3-FIFO's counts: `policy.rs`). The thread also
//! tells the policy when the store is nearly full (probation, `filter.rs`)
//! and counts what leaves with the file as evicted.
//!
//! Whenever RocksDB's files changed (`versions.rs`: looked at every 10 ms
//! while the store is written; probation and reinsertion judge items best
//! soon after a flush: docs/performance.md, "Eviction: what the server lost against the model, found and fixed"), the thread lists
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
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rocksdb::DB;

use super::journal;
use super::reinsertion::Reinsertion;
use super::versions::VersionWatch;
use crate::key_hash;
use crate::shared::Shared;
use crate::stripes::HeldStripes;

/// Files within this many memtables of the capacity are about to go.
const REINSERT_HEADROOM: u64 = 2;
/// Within this many, merges drop unread newcomers.
const PROBATION_HEADROOM: u64 = 4;

/// The eviction thread's state.
pub(crate) struct Retirement {
    db: Arc<DB>,
    shared: Arc<Shared>,
    /// What passes carry over; made by the first.
    state: Mutex<Option<Pass>>,
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
struct Pass {
    /// Journal records before this position have been looked at.
    frontier: u64,
    /// The files the last pass saw.
    seen: Vec<FileSeen>,
    /// Copies of the items read since written.
    copies: Reinsertion,
    /// Items counted as evicted that may still be in the item cache: the
    /// newest journal record of the file they go with, and their key's
    /// hash, oldest first.
    doomed: VecDeque<(u64, u64)>,
    /// The stripe of an item leaving the item cache.
    held: HeldStripes,
}

impl Retirement {
    pub(crate) fn new(db: Arc<DB>, shared: Arc<Shared>) -> Self {
        Self { db, shared, state: Mutex::new(None) }
    }

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
        pass.copies.settle_through(&self.db, &self.shared, pass.frontier, u64::MAX, &mut pass.doomed);
    }

    /// Between passes: the journal records of workers gone quiet.
    fn write_idle_records(&self) {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pass) = state.as_ref() {
            self.shared.journal.write_idle(&self.db, pass.copies.write_options());
        }
    }

    fn first_pass(&self) -> Pass {
        Pass {
            frontier: journal::oldest_record(&self.db, &self.shared.journal),
            seen: Vec::new(),
            copies: Reinsertion::new(&self.shared),
            doomed: VecDeque::new(),
            held: HeldStripes::new(self.shared.stripes.clone()),
        }
    }

    /// One look at the files; see the module docs.
    fn pass(&self, pass: &mut Pass) {
        let shared = &self.shared;
        shared.journal.write_idle(&self.db, pass.copies.write_options());
        let property = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        let disk = property("rocksdb.live-sst-files-size") + property("rocksdb.live-blob-file-size");
        let items = journal::count_items(&self.db, &shared.journal);
        let nearly_full = disk + PROBATION_HEADROOM * shared.memtable >= shared.capacity;
        shared.policy.set_fill(nearly_full, items);
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
        let leaving = (disk + REINSERT_HEADROOM * shared.memtable).saturating_sub(shared.capacity);
        let share = disk / files.len().max(1) as u64;
        let mut before = 0;
        for file in &files {
            if before >= leaving {
                break;
            }
            if file.newest_record >= pass.frontier && file.newest_record != u64::MAX {
                let (from, last) = (pass.frontier, file.newest_record);
                pass.copies.settle_through(&self.db, shared, from, last, &mut pass.doomed);
                pass.frontier = last + 1;
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
                self.shared.ledger.evicted_unnamed(items);
                pass.frontier = gone.newest_record + 1;
                // Its keys are not known: none of them may be served.
                self.shared.items.clear();
            }
        }
    }

    /// Takes out of the item cache the items evicted whose files are gone
    /// (no live file's newest record is as old as theirs: the oldest is
    /// `oldest_record`), and those dropped by merges in place.
    fn forget_evicted(&self, pass: &mut Pass, oldest_record: u64) {
        let mut gone = self.shared.ledger.take_merged();
        while let Some(&(record, hash)) = pass.doomed.front() {
            if record >= oldest_record {
                break;
            }
            gone.push(hash);
            pass.doomed.pop_front();
        }
        if !self.shared.items.is_on() {
            return;
        }
        for hash in gone {
            pass.held.take_waiting(key_hash::stripe(hash));
            self.shared.items.remove(hash);
            pass.held.release_all();
        }
    }
}
