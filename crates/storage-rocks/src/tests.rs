//! RocksStorage on real RocksDB directories.

use std::sync::atomic::{AtomicUsize, Ordering};

use petrel_protocol_memcache::{
    Delete, Expiry, Fetch, Fetched, Storage, Store, Stored, conformance, unix_now,
};

use super::*;
use crate::storage::LIVE_SST_BYTES;

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

fn set(value_len: usize) -> Store {
    Store::set(7, Expiry::Never, value_len.max(1 << 20))
}

fn get(storage: &RocksStorage, key: &[u8]) -> Option<Vec<u8>> {
    let mut value = Vec::new();
    match storage.fetch(&mut storage.worker(), key, Fetch::default(), Some(&mut value), unix_now()).unwrap() {
        Fetched::Hit(_) => Some(value),
        Fetched::Miss { .. } => None,
    }
}

#[test]
fn rocks_storage_conforms() {
    let parent = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    conformance::run_all(|| {
        let dir = parent.path().join(next.fetch_add(1, Ordering::Relaxed).to_string());
        // The suite checks the meta h and l flags, which need access tracking.
        RocksStorage::open(&StorageConfig { track_access: true, ..config(&dir) }).unwrap()
    });
}

#[test]
fn rocks_storage_conforms_without_the_item_cache() {
    let parent = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    conformance::run_all(|| {
        let dir = parent.path().join(next.fetch_add(1, Ordering::Relaxed).to_string());
        RocksStorage::open(&StorageConfig { track_access: true, item_cache_size: 0, ..config(&dir) }).unwrap()
    });
}

#[test]
fn gets_are_served_by_the_item_cache_once_filled() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.store(&mut storage.worker(), b"written", b"1", set(0), unix_now()).unwrap();
    storage.flush_memtables().unwrap();
    drop(storage);
    // Reopened: the cache is empty, and the first read fills it.
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let cached =
        |key: &[u8]| storage.items.get(storage.hash(key), key, |stored| item::value(stored).to_vec());
    assert_eq!(cached(b"written"), None);
    assert_eq!(get(&storage, b"written"), Some(b"1".to_vec()));
    assert_eq!(cached(b"written"), Some(b"1".to_vec()));
    // Writes go through; deletes and flushes empty it.
    storage.store(&mut storage.worker(), b"written", b"2", set(0), unix_now()).unwrap();
    assert_eq!(cached(b"written"), Some(b"2".to_vec()));
    storage.delete(&mut storage.worker(), b"written", Delete::default(), unix_now()).unwrap();
    assert_eq!(cached(b"written"), None);
    assert_eq!(get(&storage, b"written"), None);
    storage.store(&mut storage.worker(), b"flushed", b"3", set(0), unix_now()).unwrap();
    storage.flush_all(&mut storage.worker(), 0, unix_now()).unwrap();
    assert_eq!(cached(b"flushed"), None);
    assert_eq!(get(&storage, b"flushed"), None);
}

thread_local! {
    /// Called between a miss's RocksDB read and its cache fill.
    pub(crate) static BEFORE_FILL: std::cell::RefCell<Option<Box<dyn FnMut()>>> =
        const { std::cell::RefCell::new(None) };
}

/// A write that arrives while a miss is being filled must win: the fill
/// holds the key's lock, so the write waits and replaces the filled item.
#[test]
fn a_write_during_a_fill_is_not_hidden_by_the_older_item() {
    let dir = tempfile::tempdir().unwrap();
    let storage = std::sync::Arc::new(RocksStorage::open(&config(dir.path())).unwrap());
    storage.store(&mut storage.worker(), b"k", b"old", set(0), unix_now()).unwrap();
    storage.items.clear();
    let (wrote_tx, wrote_rx) = std::sync::mpsc::channel();
    let writer_storage = storage.clone();
    BEFORE_FILL.set(Some(Box::new(move || {
        let (storage, wrote_tx) = (writer_storage.clone(), wrote_tx.clone());
        std::thread::spawn(move || {
            storage.store(&mut storage.worker(), b"k", b"new", set(0), unix_now()).unwrap();
            wrote_tx.send(()).unwrap();
        });
        // Give the write every chance to land before the fill.
        let _ = wrote_rx.recv_timeout(std::time::Duration::from_millis(200));
    })));
    assert_eq!(get(&storage, b"k"), Some(b"old".to_vec()));
    BEFORE_FILL.set(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(&storage, b"k") != Some(b"new".to_vec()) {
        assert!(std::time::Instant::now() < deadline, "the write was hidden by the filled item");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cached = storage.items.get(storage.hash(b"k"), b"k", |stored| item::value(stored).to_vec());
    assert_eq!(cached, Some(b"new".to_vec()));
}

/// One writer per key stores increasing numbers while readers read: a
/// reader must never see a key go backwards, which is what a miss filling
/// the cache with an item older than a concurrent write would show.
#[test]
fn concurrent_reads_never_see_an_older_value_than_one_already_seen() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    const KEYS: usize = 4;
    const WRITES: u64 = 20_000;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for key in 0..KEYS {
            let (storage, done) = (&storage, &done);
            scope.spawn(move || {
                for n in 1..=WRITES {
                    let key = format!("key-{key}");
                    storage
                        .store(
                            &mut storage.worker(),
                            key.as_bytes(),
                            n.to_string().as_bytes(),
                            set(0),
                            unix_now(),
                        )
                        .unwrap();
                    if n % 2 == 1 {
                        // Deletes send readers to RocksDB and to the fill path.
                        storage
                            .delete(&mut storage.worker(), key.as_bytes(), Delete::default(), unix_now())
                            .unwrap();
                    }
                }
                done.store(true, Ordering::Release);
            });
        }
        for _ in 0..3 {
            let (storage, done) = (&storage, &done);
            scope.spawn(move || {
                let mut seen = [0u64; KEYS];
                while !done.load(Ordering::Acquire) {
                    for (key, seen) in seen.iter_mut().enumerate() {
                        let Some(value) = get(storage, format!("key-{key}").as_bytes()) else { continue };
                        let n: u64 = String::from_utf8(value).unwrap().parse().unwrap();
                        assert!(n >= *seen, "key-{key} went back from {seen} to {n}");
                        *seen = n;
                    }
                }
            });
        }
    });
    for key in 0..KEYS {
        assert_eq!(get(&storage, format!("key-{key}").as_bytes()), Some(WRITES.to_string().into_bytes()));
    }
}

/// Readers filling the cache while `flush_all` runs must not bring a
/// flushed item back.
#[test]
fn no_read_racing_flush_all_brings_a_flushed_item_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("key-{i}")).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let (storage, keys, stop) = (&storage, &keys, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    for key in keys {
                        get(storage, key.as_bytes());
                    }
                }
            });
        }
        for round in 0..30 {
            for key in &keys {
                storage.store(&mut storage.worker(), key.as_bytes(), b"before", set(0), unix_now()).unwrap();
            }
            if round % 3 == 0 {
                storage.flush_memtables().unwrap();
            }
            storage.flush_all(&mut storage.worker(), 0, unix_now()).unwrap();
            for key in &keys {
                assert_eq!(
                    get(&storage, key.as_bytes()),
                    None,
                    "{key} came back after flush_all, round {round}"
                );
            }
        }
        stop.store(true, Ordering::Release);
    });
}

#[test]
fn items_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        for i in 0..1000 {
            storage
                .store(
                    &mut storage.worker(),
                    format!("key-{i}").as_bytes(),
                    format!("value-{i}").as_bytes(),
                    set(0),
                    unix_now(),
                )
                .unwrap();
        }
    }
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    for i in 0..1000 {
        assert_eq!(get(&storage, format!("key-{i}").as_bytes()), Some(format!("value-{i}").into_bytes()));
    }
    let mut value = Vec::new();
    let Fetched::Hit(found) = storage
        .fetch(&mut storage.worker(), b"key-1", Fetch::default(), Some(&mut value), unix_now())
        .unwrap()
    else {
        panic!("missing")
    };
    assert_eq!(found.info.flags, 7);
}

#[test]
fn cas_values_keep_increasing_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let cas_of = |stored: Stored| match stored {
        Stored::Stored { cas, .. } => cas,
        other => panic!("{other:?}"),
    };
    let before = {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        (0..10)
            .map(|_| cas_of(storage.store(&mut storage.worker(), b"k", b"v", set(0), unix_now()).unwrap()))
            .max()
            .unwrap()
    };
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let after = cas_of(storage.store(&mut storage.worker(), b"k", b"v", set(0), unix_now()).unwrap());
    assert!(after > before, "{after} after {before}");
}

#[test]
fn delayed_flush_holds_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let now = unix_now();
    {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        storage.store(&mut storage.worker(), b"old", b"v", set(0), now).unwrap();
        storage.flush_all(&mut storage.worker(), now + 100, now).unwrap();
    }
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.store(&mut storage.worker(), b"new", b"v", set(0), now + 101).unwrap();
    assert!(matches!(
        storage.fetch(&mut storage.worker(), b"old", Fetch::default(), None, now + 99).unwrap(),
        Fetched::Hit(_)
    ));
    assert!(matches!(
        storage.fetch(&mut storage.worker(), b"old", Fetch::default(), None, now + 100).unwrap(),
        Fetched::Miss { .. }
    ));
    assert!(matches!(
        storage.fetch(&mut storage.worker(), b"new", Fetch::default(), None, now + 102).unwrap(),
        Fetched::Hit(_)
    ));
}

#[test]
fn immediate_flush_holds_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        storage.store(&mut storage.worker(), b"old", b"v", set(0), unix_now()).unwrap();
        storage.flush_all(&mut storage.worker(), 0, unix_now()).unwrap();
        storage.store(&mut storage.worker(), b"new", b"v", set(0), unix_now()).unwrap();
    }
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    assert_eq!(get(&storage, b"old"), None);
    assert_eq!(get(&storage, b"new"), Some(b"v".to_vec()));
}

#[test]
fn writing_past_capacity_evicts_the_oldest_and_keeps_disk_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let capacity = 8 << 20;
    let storage =
        RocksStorage::open(&StorageConfig { capacity, compression: Compression::None, ..config(dir.path()) })
            .unwrap();
    let value = vec![b'x'; 4096];
    // Three times the capacity, in distinct keys. Files are flushed here
    // far faster than under any real load, so look after each flush, as the
    // watcher does every 200 ms, rather than race it.
    let count = 3 * capacity as usize / value.len();
    for i in 0..count {
        storage
            .store(
                &mut storage.worker(),
                format!("key-{i:08}").as_bytes(),
                &value,
                set(value.len()),
                unix_now(),
            )
            .unwrap();
        if i % 512 == 0 {
            storage.flush_memtables().unwrap();
            storage.stats();
        }
    }
    storage.flush_memtables().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        storage.stats();
        let sst = LIVE_SST_BYTES.value() as u64;
        if sst <= capacity + (2 << 20) && storage.evicted() > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sst {sst}, evictions {}", storage.evicted());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The newest writes are kept; the oldest went first.
    assert!(get(&storage, format!("key-{:08}", count - 1).as_bytes()).is_some());
    assert!(get(&storage, b"key-00000000").is_none());
    // Evicted: at least what no longer fits, at most what was written.
    let evicted = storage.evicted();
    assert!(evicted >= (count - capacity as usize / value.len()) as u64 / 2, "{evicted}");
    assert!(evicted <= count as u64, "{evicted} of {count}");
}

#[test]
fn a_directory_in_use_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RocksStorage::open(&config(dir.path())).unwrap();
    let error = RocksStorage::open(&config(dir.path())).err().expect("second open must fail").to_string();
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
    assert!(error.contains("lock"), "{error}");
}

#[test]
fn reads_write_nothing_unless_access_is_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.store(&mut storage.worker(), b"k", b"v", set(0), unix_now()).unwrap();
    let entries = || storage.db.property_int_value("rocksdb.num-entries-active-mem-table").unwrap().unwrap();
    let before = entries();
    for _ in 0..10 {
        assert_eq!(get(&storage, b"k"), Some(b"v".to_vec()));
    }
    assert_eq!(entries(), before, "a plain read wrote to the memtable");
    drop(storage);

    let tracked = RocksStorage::open(&StorageConfig { track_access: true, ..config(dir.path()) }).unwrap();
    let entries = || tracked.db.property_int_value("rocksdb.num-entries-active-mem-table").unwrap().unwrap();
    let before = entries();
    for _ in 0..10 {
        get(&tracked, b"k");
    }
    assert_eq!(entries(), before + 1, "with tracking, the first read marks the item fetched, once");
}

#[test]
fn merging_files_drops_expired_items_and_older_versions_without_counting_evictions() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let reclaimed_before = RECLAIMED.value();
    let expired = Store::set(0, Expiry::At(1), 1 << 20);
    // Four memtable flushes, four files: RocksDB merges them. Each holds a
    // new version of the same 500 live keys and 500 keys already expired.
    for round in 0..4 {
        for i in 0..500 {
            let value = format!("round-{round}-{i}");
            storage
                .store(
                    &mut storage.worker(),
                    format!("live-{i}").as_bytes(),
                    value.as_bytes(),
                    set(0),
                    unix_now(),
                )
                .unwrap();
            storage
                .store(
                    &mut storage.worker(),
                    format!("dead-{round}-{i}").as_bytes(),
                    b"gone",
                    expired,
                    unix_now(),
                )
                .unwrap();
        }
        storage.flush_memtables().unwrap();
        storage.stats();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while storage.db.live_files().unwrap().len() > 1 {
        assert!(std::time::Instant::now() < deadline, "the files were not merged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    storage.stats();
    let files = storage.db.live_files().unwrap();
    let items: u64 = files.iter().map(|file| file.num_entries - file.num_deletions).sum();
    assert_eq!(items, 500, "only the newest version of each live key is left");
    assert!(RECLAIMED.value() - reclaimed_before >= 2000);
    assert_eq!(storage.evicted(), 0, "merging is not evicting");
    for i in 0..500 {
        assert_eq!(get(&storage, format!("live-{i}").as_bytes()), Some(format!("round-3-{i}").into_bytes()));
    }
}

/// With `sync_writes`, `commit` fsyncs the log once for all the writes a
/// worker made since its last commit, and not at all when it wrote nothing.
#[test]
fn with_sync_writes_a_commit_fsyncs_the_log_once_per_round() {
    use rocksdb::statistics::Ticker;
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&StorageConfig { sync_writes: true, ..config(dir.path()) }).unwrap();
    let worker = &mut storage.worker();
    let syncs = || storage.evictions.statistics.get_ticker_count(Ticker::WalFileSynced);
    // The first write reserves CAS values, a synced write of its own.
    storage.store(worker, b"first", b"value", set(0), unix_now()).unwrap();
    storage.commit(worker).unwrap();
    let before = syncs();
    for i in 0..10 {
        storage.store(worker, format!("key-{i}").as_bytes(), b"value", set(0), unix_now()).unwrap();
    }
    assert_eq!(syncs(), before, "writes fsynced before the commit");
    storage.commit(worker).unwrap();
    assert_eq!(syncs(), before + 1);
    get(&storage, b"key-1");
    storage.commit(worker).unwrap();
    assert_eq!(syncs(), before + 1, "a commit of reads fsynced");

    let unsynced = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(unsynced.path())).unwrap();
    let worker = &mut storage.worker();
    storage.store(worker, b"key", b"value", set(0), unix_now()).unwrap();
    let before = storage.evictions.statistics.get_ticker_count(Ticker::WalFileSynced);
    storage.store(worker, b"key", b"value", set(0), unix_now()).unwrap();
    storage.commit(worker).unwrap();
    assert_eq!(storage.evictions.statistics.get_ticker_count(Ticker::WalFileSynced), before);
}

/// Two workers writing to one store: each commit makes its own worker's
/// writes durable, and one worker's commit does not stand for another's.
#[test]
fn each_worker_commits_its_own_writes() {
    use rocksdb::statistics::Ticker;
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&StorageConfig { sync_writes: true, ..config(dir.path()) }).unwrap();
    let syncs = || storage.evictions.statistics.get_ticker_count(Ticker::WalFileSynced);
    let (first, second) = (&mut storage.worker(), &mut storage.worker());
    // The first write reserves CAS values, a synced write of its own.
    storage.store(first, b"warm-up", b"value", set(0), unix_now()).unwrap();
    storage.commit(first).unwrap();
    let before = syncs();
    storage.store(first, b"key", b"value", set(0), unix_now()).unwrap();
    storage.commit(second).unwrap();
    assert_eq!(syncs(), before, "a worker that wrote nothing synced the log");
    storage.store(second, b"other", b"value", set(0), unix_now()).unwrap();
    storage.commit(first).unwrap();
    assert_eq!(syncs(), before + 1, "the first worker's commit did not sync its writes");
    storage.commit(second).unwrap();
    assert_eq!(syncs(), before + 2, "the second worker's writes were taken as committed by the first's");
}
