//! Merges the store schedules itself.
//!
//! RocksDB's own choice of merges (FIFO's intra-L0 compaction) is off: it
//! merges the newest files as soon as enough of them wait, in groups whose
//! size depends on how full a flushed file is (docs/performance.md, section
//! 21), so a newcomer was judged at any age from nothing to a thirteenth of
//! the capacity. Instead this thread merges each flushed file once, after
//! [`WINDOW_FILES`] newer ones were flushed, with at least
//! [`GROUP_FILES`] - 1 others, through RocksDB's `CompactFiles` and the
//! same compaction filter (`compaction.rs`). So every newcomer has a
//! like time to be read before a merge judges it (S3-FIFO's small queue),
//! a file is never merged twice, and the number of files stays near
//! the capacity over `GROUP_FILES` memtables plus the window.
//!
//! The window is short: a newcomer is judged once between one and
//! `GROUP_FILES` memtables were written after it (at most a sixteenth of
//! the capacity). Measured on the eviction loads, a window of six files
//! (a tenth of the capacity, S3-FIFO's share) kept fewer hot items
//! (docs/performance.md, section 22): a newcomer read in its first short
//! while is the likelier to be read again, and one dropped too early
//! comes back through the ghost.
//!
//! The thread runs in the idle scheduling class, as RocksDB's background
//! threads do (`background.rs`): a merge runs in the thread that asks.

use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rocksdb::{AsRawPtr, DB};

use crate::versions::VersionWatch;

/// A flushed file is merged once this many newer ones were flushed ...
pub(crate) const WINDOW_FILES: usize = 1;
/// ... with the others past the window, once there are this many ...
pub(crate) const GROUP_FILES: usize = 4;
/// ... but no more than this many at once.
const MOST_FILES: usize = 8;

/// What the thread needs of the store.
pub(crate) struct Merger {
    db: Arc<DB>,
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
    pub(crate) fn new(db: Arc<DB>) -> Self {
        let at_open = table_files(&db).into_iter().map(|(number, _)| number).collect();
        Self { db, merged: Mutex::new(at_open) }
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
        merged.retain(|number| files.iter().any(|(live, _)| live == number));
        let flushed: Vec<&(u64, String)> =
            files.iter().filter(|(number, _)| !merged.contains(number)).collect();
        let Some(count) = files_to_merge(flushed.len()) else { return Ok(0) };
        let names: Vec<String> = flushed[..count].iter().map(|(_, name)| name.clone()).collect();
        let outputs =
            compact_files(&self.db, &names).map_err(|detail| MergeError { files: names, detail })?;
        merged.extend(outputs.iter().filter_map(|name| file_number(name)));
        Ok(count)
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

/// The items family's table files, oldest (lowest number) first, as
/// (number, name).
fn table_files(db: &DB) -> Vec<(u64, String)> {
    let mut files: Vec<(u64, String)> = db
        .live_files()
        .unwrap_or_default()
        .into_iter()
        .filter(|file| file.column_family_name == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
        .filter_map(|file| Some((file_number(&file.name)?, file.name)))
        .collect();
    files.sort_unstable();
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
