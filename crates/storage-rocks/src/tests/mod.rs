//! RocksStorage on real RocksDB directories.

mod batch;
mod durability;
mod eviction;
pub(crate) mod item_cache;
mod merging;
mod stall;

use std::sync::atomic::{AtomicUsize, Ordering};

use petrel_memcache_service::{
    DeleteRequest, Expiry, FetchRequest, Fetched, Storage, StoreRequest, Stored, unix_now,
};

use super::*;

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        path: dir.to_path_buf(),
        item_cache_size: 8 << 20,
        block_cache_size: 8 << 20,
        write_buffer_size: 1 << 20,
        capacity: 64 << 20,
        ..StorageConfig::default()
    }
}

fn set(value_len: usize) -> StoreRequest {
    StoreRequest::set(7, Expiry::Never, value_len.max(1 << 20))
}

fn get(storage: &RocksStorage, key: &[u8]) -> Option<Vec<u8>> {
    let mut value = Vec::new();
    match storage
        .one_off(|s, w| s.fetch(w, key, FetchRequest::default(), Some(&mut value), unix_now()))
        .unwrap()
    {
        Fetched::Hit(_) => Some(value),
        Fetched::Miss { .. } => None,
    }
}

#[test]
fn rocks_storage_conforms() {
    let parent = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    petrel_memcache_conformance::run_all(|| {
        let dir = parent.path().join(next.fetch_add(1, Ordering::Relaxed).to_string());
        // The suite checks the meta h and l flags, which need access tracking.
        RocksStorage::open(&StorageConfig { track_access: true, ..config(&dir) }).unwrap()
    });
}

#[test]
fn rocks_storage_conforms_without_the_item_cache() {
    let parent = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    petrel_memcache_conformance::run_all(|| {
        let dir = parent.path().join(next.fetch_add(1, Ordering::Relaxed).to_string());
        RocksStorage::open(&StorageConfig { track_access: true, item_cache_size: 0, ..config(&dir) }).unwrap()
    });
}

#[test]
fn writing_past_capacity_evicts_the_oldest_and_keeps_disk_bounded() {
    evicts_the_oldest_past_capacity(4096);
}

#[test]
fn items_in_blob_files_count_against_the_capacity_too() {
    let config = StorageConfig::default();
    evicts_the_oldest_past_capacity(2 * config.blob_threshold as usize);
}

/// Writes three times the capacity in items of `value_len` bytes: the table
/// and blob files stay within the capacity, the oldest items go first, and
/// evictions are counted.
fn evicts_the_oldest_past_capacity(value_len: usize) {
    let dir = tempfile::tempdir().unwrap();
    let capacity = 8 << 20;
    let storage =
        RocksStorage::open(&StorageConfig { capacity, compression: Compression::None, ..config(dir.path()) })
            .unwrap();
    let value = vec![b'x'; value_len];
    // Files are flushed here far faster than under any real load, so make
    // the eviction thread's pass after each flush rather than race it. One
    // worker writes everything, as a busy server's does.
    let count = 3 * capacity as usize / value.len();
    let mut worker = storage.worker();
    for i in 0..count {
        storage
            .store(&mut worker, format!("key-{i:08}").as_bytes(), &value, set(value.len()), unix_now())
            .unwrap();
        storage.commit(&mut worker).unwrap();
        if i % (count / 48) == 0 {
            storage.flush_memtables().unwrap();
            storage.evict_now();
        }
    }
    storage.flush_memtables().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        storage.stats();
        let on_disk = data_file_bytes(dir.path());
        if on_disk <= capacity + (2 << 20) && storage.evicted() > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{on_disk} bytes on disk, evictions {}",
            storage.evicted()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The newest write is kept (not merged yet). Which older items went
    // is eviction's policy (tests/eviction.rs), not FIFO order any more.
    assert!(get(&storage, format!("key-{:08}", count - 1).as_bytes()).is_some());
    // Evicted: at least what no longer fits, at most what was written.
    let evicted = storage.evicted();
    assert!(evicted >= (count - capacity as usize / value.len()) as u64 / 2, "{evicted}");
    assert!(evicted <= count as u64, "{evicted} of {count}");
}

/// Bytes of the table and blob files in `dir`.
fn data_file_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "sst" || ext == "blob"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

#[test]
fn merging_files_drops_expired_items_and_older_versions_without_counting_evictions() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    // Merges run only while the store is nearly full (`merging.rs`).
    storage.shared.policy.hold_on_probation();
    let reclaimed_before = storage.shared.ledger.counts().reclaimed;
    let expired = StoreRequest::set(0, Expiry::At(1), 1 << 20);
    // Four memtable flushes, four files, each with a new version of the
    // same 500 live keys, read so that probation keeps them, and 500 keys
    // already expired; then the flushes of the window after them, a key
    // each. The store merges the four.
    use crate::eviction::merging::{GROUP_FILES, WINDOW_FILES};
    for round in 0..GROUP_FILES {
        // The dead first: a key written starts its read count over, and so
        // does one that shares its slot.
        for i in 0..500 {
            storage
                .one_off(|s, w| {
                    s.store(w, format!("dead-{round}-{i}").as_bytes(), b"gone", expired, unix_now())
                })
                .unwrap();
        }
        for i in 0..500 {
            let value = format!("round-{round}-{i}");
            storage
                .one_off(|s, w| {
                    s.store(w, format!("live-{i}").as_bytes(), value.as_bytes(), set(0), unix_now())
                })
                .unwrap();
        }
        for i in 0..500 {
            assert!(get(&storage, format!("live-{i}").as_bytes()).is_some());
        }
        storage.flush_memtables().unwrap();
        storage.stats();
    }
    for filler in 0..WINDOW_FILES {
        let merger = &storage.merger;
        assert_eq!(merger.merge_now().unwrap(), 0, "no merge before {WINDOW_FILES} newer files");
        storage
            .one_off(|s, w| s.store(w, format!("filler-{filler}").as_bytes(), b"-", set(0), unix_now()))
            .unwrap();
        storage.flush_memtables().unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while storage.db.live_files().unwrap().len() > 1 + WINDOW_FILES {
        assert!(std::time::Instant::now() < deadline, "the files were not merged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    storage.stats();
    // The journal's records, in files too.
    storage.flush_memtables().unwrap();
    let files = storage.db.live_files().unwrap();
    let entries: u64 = files.iter().map(|file| file.num_entries - file.num_deletions).sum();
    let mut records = storage.db.raw_iterator();
    records.seek(crate::eviction::journal::PREFIX);
    let mut journal_records = 0;
    while records.valid() {
        journal_records += 1;
        records.next();
    }
    assert_eq!(
        entries - journal_records - WINDOW_FILES as u64,
        500,
        "only the newest version of each live key is left, and the fillers"
    );
    assert!(storage.shared.ledger.counts().reclaimed - reclaimed_before >= 2000);
    assert_eq!(storage.evicted(), 0, "merging is not evicting");
    for i in 0..500 {
        assert_eq!(get(&storage, format!("live-{i}").as_bytes()), Some(format!("round-3-{i}").into_bytes()));
    }
}

#[test]
fn a_merged_file_is_never_merged_again() {
    use crate::eviction::merging::{GROUP_FILES, WINDOW_FILES};
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.shared.policy.hold_on_probation();
    let merger = &storage.merger;
    // Each file: a key read, kept by the merge, and one never read, which
    // makes the merge worth its writes.
    let flush_files = |count: usize, from: usize| {
        for n in from..from + count {
            for key in [format!("read-{n}"), format!("unread-{n}")] {
                storage.one_off(|s, w| s.store(w, key.as_bytes(), b"-", set(0), unix_now())).unwrap();
            }
            assert!(get(&storage, format!("read-{n}").as_bytes()).is_some());
            storage.flush_memtables().unwrap();
            merger.merge_now().ok();
        }
    };
    flush_files(WINDOW_FILES + GROUP_FILES, 0);
    let first_outputs = merger.outputs();
    assert_eq!(first_outputs.len(), 1, "one merge, into one file");
    flush_files(3 * (WINDOW_FILES + GROUP_FILES), 100);
    let live: Vec<String> = storage.db.live_files().unwrap().into_iter().map(|file| file.name).collect();
    assert!(merger.outputs().len() >= 3, "later groups were merged too");
    for output in &first_outputs {
        assert!(
            live.iter().any(|name| name.ends_with(&format!("{output:06}.sst"))),
            "{output} was merged again"
        );
    }
}
