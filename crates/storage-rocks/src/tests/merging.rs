//! Which groups of flushed files the store merges (`merging.rs`): those
//! with enough to drop, older versions anywhere, unread newcomers on
//! probation.

use std::time::{Duration, Instant};

use super::*;
use crate::eviction::merging::{GROUP_FILES, WINDOW_FILES};

/// Flushes one file per entry of `files`, each with the keys given (items
/// of 4 KiB, from one worker, so that its journal records name them in
/// the same file) and those of them marked read read back.
fn flush_files(storage: &RocksStorage, files: &[Vec<(String, bool)>]) {
    let mut worker = storage.worker();
    for keys in files {
        for (key, _) in keys {
            storage.store(&mut worker, key.as_bytes(), &[b'-'; 4096], set(4096), unix_now()).unwrap();
            storage.commit(&mut worker).unwrap();
        }
        for (key, read) in keys {
            if *read {
                assert!(get(storage, key.as_bytes()).is_some());
            }
        }
        storage.flush_memtables().unwrap();
    }
}

fn table_files(storage: &RocksStorage) -> usize {
    storage.db.live_files().unwrap().len()
}

/// A group and its window: files of sixteen items each (two journal
/// records' worth), `read` or not.
fn group(first: usize, read: bool) -> Vec<Vec<(String, bool)>> {
    (first..first + WINDOW_FILES + GROUP_FILES)
        .map(|file| (0..16).map(|key| (format!("file-{file}-key-{key}"), read)).collect())
        .collect()
}

/// A group and its window whose files all hold the same sixteen keys.
fn rewrites(first: usize) -> Vec<Vec<(String, bool)>> {
    (0..WINDOW_FILES + GROUP_FILES)
        .map(|_| (0..16).map(|key| (format!("rewritten-{first}-{key}"), false)).collect())
        .collect()
}

/// Flushes `files` (into a store that has none), has the merging thread
/// look, and checks that it left them as they are, `why`.
fn flush_and_see_left(storage: &RocksStorage, files: &[Vec<(String, bool)>], why: &str) {
    flush_files(storage, files);
    storage.merger.merge_now().unwrap();
    assert_eq!(table_files(storage), files.len(), "{why}: a merge would only write the items again");
}

/// Merges until the store has `files` table files; fails after 30 s.
fn merge_down_to(storage: &RocksStorage, files: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while table_files(storage) > files {
        storage.merger.merge_now().ok();
        assert!(Instant::now() < deadline, "{what} was not merged");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn far_from_its_capacity_the_store_merges_only_to_drop_older_versions() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    flush_and_see_left(&storage, &group(0, false), "nothing would go");
    flush_files(&storage, &rewrites(100));
    let before = 2 * (WINDOW_FILES + GROUP_FILES);
    merge_down_to(&storage, before - GROUP_FILES + 1, "the group of rewritten keys");
    assert_eq!(storage.evicted(), 0, "nothing is evicted far from the capacity");
    assert!(get(&storage, b"file-0-key-0").is_some(), "the group left unmerged is all there");
    assert!(get(&storage, b"rewritten-100-15").is_some());
}

#[test]
fn on_probation_a_group_read_since_written_is_left_and_one_of_unread_newcomers_merged() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.shared.policy.hold_on_probation();
    flush_and_see_left(&storage, &group(0, true), "every item would be kept");
    flush_files(&storage, &group(100, false));
    let before = 2 * (WINDOW_FILES + GROUP_FILES);
    merge_down_to(&storage, before - GROUP_FILES + 1, "the group of unread newcomers");
    // The group merged: the first group's window file (read, kept) and
    // the oldest newcomers' files.
    let newcomers = ((GROUP_FILES - WINDOW_FILES) * 16) as u64;
    assert!(storage.evicted() >= newcomers, "the newcomers went: {}", storage.evicted());
    assert_eq!(get(&storage, b"file-0-key-0").as_deref(), Some(&[b'-'; 4096][..]), "the read items stay");
}

#[test]
fn past_its_most_files_the_store_merges_whatever_a_group_drops() {
    use crate::eviction::merging::MOST_FILES_LEFT;
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    // Files of sixteen distinct unread keys, far from the capacity: nothing
    // a merge would drop, so each group is left, up to the limit.
    let files: Vec<Vec<(String, bool)>> = (0..MOST_FILES_LEFT)
        .map(|file| (0..16).map(|key| (format!("file-{file}-key-{key}"), false)).collect())
        .collect();
    flush_files(&storage, &files);
    storage.merger.merge_now().unwrap();
    // (and perhaps a file of the meta family)
    assert!(table_files(&storage) >= MOST_FILES_LEFT, "no group was worth merging");
    // A group more, as little to drop, past the limit: merged. (Groups
    // once left are not looked at again.)
    flush_files(&storage, &group(1000, false));
    let merged = MOST_FILES_LEFT + WINDOW_FILES + 1;
    merge_down_to(&storage, merged + 1, "a group past the limit");
    assert!(get(&storage, b"file-0-key-0").is_some() && get(&storage, b"file-1001-key-15").is_some());
}
