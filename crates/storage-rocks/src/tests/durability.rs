//! What survives reopening, and when writes are made durable.

use petrel_memcache_service::{FetchRequest, Fetched, Storage, unix_now};

use super::*;

#[test]
fn items_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        for i in 0..1000 {
            storage
                .one_off(|s, w| {
                    s.store(
                        w,
                        format!("key-{i}").as_bytes(),
                        format!("value-{i}").as_bytes(),
                        set(0),
                        unix_now(),
                    )
                })
                .unwrap();
        }
    }
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    for i in 0..1000 {
        assert_eq!(get(&storage, format!("key-{i}").as_bytes()), Some(format!("value-{i}").into_bytes()));
    }
    let mut value = Vec::new();
    let Fetched::Hit(found) = storage
        .one_off(|s, w| s.fetch(w, b"key-1", FetchRequest::default(), Some(&mut value), unix_now()))
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
            .map(|_| cas_of(storage.one_off(|s, w| s.store(w, b"k", b"v", set(0), unix_now())).unwrap()))
            .max()
            .unwrap()
    };
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let after = cas_of(storage.one_off(|s, w| s.store(w, b"k", b"v", set(0), unix_now())).unwrap());
    assert!(after > before, "{after} after {before}");
}

#[test]
fn delayed_flush_holds_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let now = unix_now();
    {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        storage.one_off(|s, w| s.store(w, b"old", b"v", set(0), now)).unwrap();
        storage.one_off(|s, w| s.flush_all(w, now + 100, now)).unwrap();
    }
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.one_off(|s, w| s.store(w, b"new", b"v", set(0), now + 101)).unwrap();
    assert!(matches!(
        storage.one_off(|s, w| s.fetch(w, b"old", FetchRequest::default(), None, now + 99)).unwrap(),
        Fetched::Hit(_)
    ));
    assert!(matches!(
        storage.one_off(|s, w| s.fetch(w, b"old", FetchRequest::default(), None, now + 100)).unwrap(),
        Fetched::Miss { .. }
    ));
    assert!(matches!(
        storage.one_off(|s, w| s.fetch(w, b"new", FetchRequest::default(), None, now + 102)).unwrap(),
        Fetched::Hit(_)
    ));
}

#[test]
fn immediate_flush_holds_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = RocksStorage::open(&config(dir.path())).unwrap();
        storage.one_off(|s, w| s.store(w, b"old", b"v", set(0), unix_now())).unwrap();
        storage.one_off(|s, w| s.flush_all(w, 0, unix_now())).unwrap();
        storage.one_off(|s, w| s.store(w, b"new", b"v", set(0), unix_now())).unwrap();
    }
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    assert_eq!(get(&storage, b"old"), None);
    assert_eq!(get(&storage, b"new"), Some(b"v".to_vec()));
}

#[test]
fn a_directory_in_use_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RocksStorage::open(&config(dir.path())).unwrap();
    let error = RocksStorage::open(&config(dir.path())).err().expect("second open must fail").to_string();
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
    assert!(error.contains("lock"), "{error}");
}

/// With `sync_writes`, `commit` fsyncs the log once for all the writes a
/// worker made since its last commit, and not at all when it wrote nothing.
#[test]
fn with_sync_writes_a_commit_fsyncs_the_log_once_per_round() {
    use rocksdb::statistics::Ticker;
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&StorageConfig { sync_writes: true, ..config(dir.path()) }).unwrap();
    let worker = &mut storage.worker();
    let syncs = || storage.statistics.get_ticker_count(Ticker::WalFileSynced);
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
    let before = storage.statistics.get_ticker_count(Ticker::WalFileSynced);
    storage.store(worker, b"key", b"value", set(0), unix_now()).unwrap();
    storage.commit(worker).unwrap();
    assert_eq!(storage.statistics.get_ticker_count(Ticker::WalFileSynced), before);
}

/// Two workers writing to one store: each commit makes its own worker's
/// writes durable, and one worker's commit does not stand for another's.
#[test]
fn each_worker_commits_its_own_writes() {
    use rocksdb::statistics::Ticker;
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&StorageConfig { sync_writes: true, ..config(dir.path()) }).unwrap();
    let syncs = || storage.statistics.get_ticker_count(Ticker::WalFileSynced);
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
