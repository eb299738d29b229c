//! Merges the store schedules itself.
//!
//! RocksDB's own choice of merges (FIFO's intra-L0 compaction) is off: it
//! merges the newest files as soon as enough of them wait, in groups whose
//! size depends on how full a flushed file is (docs/performance.md, "Where a set's CPU goes, and what RocksDB's merge picker does"), so a newcomer was judged at any age from nothing to a thirteenth of
//! the capacity. Instead this thread merges each flushed file once, after
//! [`WINDOW_FILES`] newer ones were flushed, with at least
//! [`GROUP_FILES`] - 1 others, through RocksDB's `CompactFiles` and the
//! same compaction filter (`filter.rs`). So every newcomer has a
//! like time to be read before a merge judges it (S3-FIFO's small queue),
//! and a file is never merged twice.
//!
//! The window is short: a newcomer is judged once between one and
//! `GROUP_FILES` memtables were written after it (at most a sixteenth of
//! the capacity). Measured on the eviction loads, a window of six files
//! (a tenth of the capacity, S3-FIFO's share) kept fewer hot items
//! (docs/performance.md, "Eviction: what the server lost against the model, found and fixed"): a newcomer read in its first short
//! while is the likelier to be read again, and one dropped too early
//! comes back through the ghost.
//!
//! A merge rewrites every item it keeps, so a group is merged only when at
//! least [`MIN_DROP_SHARE`] of the writes its journal records name would
//! go: older versions of keys written again within the group, and, while
//! the store is nearly full (probation, `policy.rs`), unread newcomers
//! (`drop_estimate.rs`). Otherwise its files are left as they are, and
//! judged when they are the oldest (`retirement.rs`). Measured on the
//! eviction loads, merges that would drop little were a third of the
//! bytes written, and most of the rest came from the store filling up,
//! where merges dropped nothing (docs/performance.md, "Eviction measured warm, copies that were refused, merges worth their writes" and
//! "Merges for what they drop, wherever the store stands").
//! Files left unmerged are at most one per memtable of the capacity, as
//! many as a full store on probation keeps, and past [`MOST_FILES_LEFT`]
//! every group is merged.
//!
//! The thread runs in the idle scheduling class, as RocksDB's background
//! threads do (`crate::background`): a merge runs in the thread that asks.

use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rocksdb::{AsRawPtr, DB, ReadOptions};

use super::drop_estimate::DropEstimate;
use super::journal;
use super::versions::VersionWatch;
use crate::shared::Shared;

/// A flushed file is merged once this many newer ones were flushed ...
pub(crate) const WINDOW_FILES: usize = 1;
/// ... with the others past the window, once there are this many ...
pub(crate) const GROUP_FILES: usize = 4;
/// ... but no more than this many at once, and only if this share of
/// their writes would go: a merge then drops nearly as many bytes as it
/// writes again. Measured on the eviction loads at 25 MiB (misses against
/// LRU's, bytes written per byte set): 0.4 gave 0.89 to 0.92 and 3.1 to
/// 3.2, 0.45 gave 0.93 and 3.0, 0.5 gave 0.91 to 0.95 and 2.9 to 3.1
/// (docs/performance.md, "Merges for what they drop, wherever the store stands").
const MOST_FILES: usize = 8;
pub(crate) const MIN_DROP_SHARE: f64 = 0.45;
/// Past this many files every group is merged, whatever it drops: a read
/// that misses memory looks at every file's filter. A store whose
/// memtables are a sixty-fourth of its capacity (`config.rs`) stays under
/// it; a larger one keeps its files as few as merging makes them.
pub(crate) const MOST_FILES_LEFT: usize = 2 * crate::config::MEMTABLES_IN_CAPACITY as usize;

/// The merging thread's state.
pub(crate) struct Merger {
    db: Arc<DB>,
    shared: Arc<Shared>,
    /// Numbers of the files not to merge: the outputs of merges, and the
    /// files there were at open (whose history is unknown).
    merged: Mutex<HashSet<u64>>,
}

/// Why a merge did not happen.
#[derive(Debug, thiserror::Error)]
#[error("merging {files:?}: {detail}")]
pub(crate) struct MergeError {
    files: Vec<String>,
    detail: String,
}

impl Merger {
    pub(crate) fn new(db: Arc<DB>, shared: Arc<Shared>) -> Self {
        let at_open = table_files(&db).into_iter().map(|file| file.number).collect();
        Self { db, shared, merged: Mutex::new(at_open) }
    }

    /// Starts the thread; it stops when the sender is dropped.
    pub(crate) fn start(self: Arc<Self>) -> std::io::Result<(mpsc::Sender<()>, JoinHandle<()>)> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("merging".into()).spawn(move || {
            if let Err(error) = crate::background::idle_current_thread() {
                log::warn!("the merging thread keeps its priority: {error}");
            }
            let mut files = VersionWatch::default();
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(files.interval()) {
                if !files.changed(&self.db) {
                    continue;
                }
                if let Err(error) = self.merge_now() {
                    // A file RocksDB was dropping meanwhile: try again later.
                    log::debug!("{error}");
                }
            }
        })?;
        Ok((stop, thread))
    }

    /// Merges the files past the window, if there are enough; returns how
    /// many it merged.
    pub(crate) fn merge_now(&self) -> Result<usize, MergeError> {
        // Files are listed under the lock: a list taken before another
        // merge finished would lack its output, and forget it was merged.
        let mut merged = self.merged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let files = table_files(&self.db);
        merged.retain(|number| files.iter().any(|live| live.number == *number));
        let flushed: Vec<&TableFile> = files.iter().filter(|file| !merged.contains(&file.number)).collect();
        let Some(count) = files_to_merge(flushed.len()) else { return Ok(0) };
        let group = &flushed[..count];
        if !self.worth_merging(&files, group) {
            self.shared.ledger.merge_skipped();
            merged.extend(group.iter().map(|file| file.number));
            return Ok(0);
        }
        let names: Vec<String> = group.iter().map(|file| file.name.clone()).collect();
        let outputs = compact_files(&self.db, &names);
        // In place (or not at all): what the filter dropped may leave the
        // item cache now.
        self.shared.ledger.merge_done();
        let outputs = outputs.map_err(|detail| MergeError { files: names, detail })?;
        merged.extend(outputs.iter().filter_map(|name| file_number(name)));
        Ok(count)
    }

    /// Whether merging `group` (flushed files, oldest first) is worth its
    /// writes: whether at least [`MIN_DROP_SHARE`] of the writes the
    /// group's journal records name would go (`drop_estimate.rs`), or the
    /// store has more than [`MOST_FILES_LEFT`] files. A group without
    /// records is merged, as before the journal.
    fn worth_merging(&self, files: &[TableFile], group: &[&TableFile]) -> bool {
        if files.len() > MOST_FILES_LEFT {
            return true;
        }
        let (Some(first), Some(last)) = (group.first(), group.last()) else { return false };
        let (Some(first_record), Some(last_record)) = (first.newest_record, last.newest_record) else {
            return true;
        };
        // The group's records follow the newest record of the files before it.
        let from = files
            .iter()
            .filter_map(|file| file.newest_record)
            .filter(|&record| record < first_record)
            .max()
            .map_or(0, |record| record + 1);
        let mut options = ReadOptions::default();
        options.fill_cache(false);
        let mut records = self.db.raw_iterator_opt(options);
        records.seek(journal::key(from));
        let mut estimate = DropEstimate::default();
        while let (Some(key), Some(record)) = (records.key(), records.value()) {
            if journal::position(key).is_none_or(|position| position > last_record) {
                break;
            }
            journal::entries(record).for_each(|(key, _)| estimate.note(self.shared.keys.hash(key)));
            records.next();
        }
        estimate
            .share(|hash| self.shared.policy.drops_on_probation(hash))
            .is_none_or(|share| share >= MIN_DROP_SHARE)
    }

    /// The numbers of the files not to merge, oldest first: in a store
    /// opened empty, the outputs of its merges (for tests).
    #[cfg(test)]
    pub(crate) fn outputs(&self) -> Vec<u64> {
        let merged = self.merged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut outputs: Vec<u64> = merged.iter().copied().collect();
        outputs.sort_unstable();
        outputs
    }
}

/// How many of `flushed` files (not merged yet), oldest first, to merge
/// now: those past the window, once there are [`GROUP_FILES`] of them.
fn files_to_merge(flushed: usize) -> Option<usize> {
    let past_window = flushed.saturating_sub(WINDOW_FILES);
    (past_window >= GROUP_FILES).then_some(past_window.min(MOST_FILES))
}

/// A table file of the items family.
struct TableFile {
    number: u64,
    name: String,
    /// The position of its newest journal record (its largest key).
    newest_record: Option<u64>,
}

/// The items family's table files, oldest (lowest number) first.
fn table_files(db: &DB) -> Vec<TableFile> {
    let mut files: Vec<TableFile> = db
        .live_files()
        .unwrap_or_default()
        .into_iter()
        .filter(|file| file.column_family_name == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
        .filter_map(|file| {
            Some(TableFile {
                number: file_number(&file.name)?,
                newest_record: file.end_key.as_deref().and_then(journal::position),
                name: file.name,
            })
        })
        .collect();
    files.sort_unstable_by_key(|file| file.number);
    files
}

/// The number in a table file's name (`/000123.sst`, or a full path).
fn file_number(name: &str) -> Option<u64> {
    name.rsplit('/').next()?.strip_suffix(".sst")?.parse().ok()
}

/// Merges the named files of the items family into one file in level 0,
/// in this thread, through the family's compaction filter; returns the
/// output files' names. The Rust crate does not wrap RocksDB's
/// `CompactFiles`, so this calls the C API.
fn compact_files(db: &DB, names: &[String]) -> Result<Vec<String>, String> {
    let names: Vec<CString> = names
        .iter()
        .map(|name| CString::new(name.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|error| error.to_string())?;
    let pointers: Vec<*const c_char> = names.iter().map(|name| name.as_ptr()).collect();
    let mut outputs: *mut *mut c_char = std::ptr::null_mut();
    let mut output_count: usize = 0;
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: the database handle lives as long as `db`; `pointers` holds
    // `pointers.len()` NUL-terminated strings that outlive the call; null
    // options and job info ask for the defaults (one output file, the
    // family's compression); the output names and the error are RocksDB's
    // allocations, freed below with RocksDB's functions.
    unsafe {
        librocksdb_sys::rocksdb_compact_files(
            db.as_raw_ptr(),
            std::ptr::null(),
            pointers.as_ptr(),
            pointers.len(),
            0,
            0,
            &mut outputs,
            &mut output_count,
            std::ptr::null_mut(),
            &mut error,
        );
        if !error.is_null() {
            let detail = CStr::from_ptr(error).to_string_lossy().into_owned();
            librocksdb_sys::rocksdb_free(error.cast());
            return Err(detail);
        }
        let names = (0..output_count)
            .map(|index| CStr::from_ptr(*outputs.add(index)).to_string_lossy().into_owned())
            .collect();
        librocksdb_sys::rocksdb_compact_files_output_file_names_destroy(outputs, output_count);
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flushed_file_waits_for_the_window_then_goes_with_a_group() {
        assert_eq!(files_to_merge(0), None);
        assert_eq!(files_to_merge(WINDOW_FILES + GROUP_FILES - 1), None, "one short of a group");
        assert_eq!(files_to_merge(WINDOW_FILES + GROUP_FILES), Some(GROUP_FILES));
        assert_eq!(
            files_to_merge(WINDOW_FILES + 100),
            Some(MOST_FILES),
            "merges that fell behind, a few at a time"
        );
    }

    #[test]
    fn file_numbers_come_from_names_and_paths() {
        assert_eq!(file_number("/000123.sst"), Some(123));
        assert_eq!(file_number("/data/store/004567.sst"), Some(4567));
        assert_eq!(file_number("/000123.blob"), None);
    }
}
