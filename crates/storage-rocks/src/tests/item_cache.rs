//! The item cache in front of RocksDB: hits, fills racing writes and
//! flushes, and reads that write nothing.

use std::sync::atomic::Ordering;

use petrel_memcache_service::{Storage, unix_now};

use crate::item_cache::ReadCounts;

use super::*;

#[test]
fn gets_are_served_by_the_item_cache_once_filled() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.one_off(|s, w| s.store(w, b"written", b"1", set(0), unix_now())).unwrap();
    storage.flush_memtables().unwrap();
    drop(storage);
    // Reopened: the cache is empty, and the first read fills it.
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let cached = |key: &[u8]| {
        storage.shared.items.get(&mut ReadCounts::default(), storage.shared.keys.hash(key), key, |stored| {
            item::value(stored).to_vec()
        })
    };
    assert_eq!(cached(b"written"), None);
    assert_eq!(get(&storage, b"written"), Some(b"1".to_vec()));
    assert_eq!(cached(b"written"), Some(b"1".to_vec()));
    // Writes go through; deletes and flushes empty it.
    storage.one_off(|s, w| s.store(w, b"written", b"2", set(0), unix_now())).unwrap();
    assert_eq!(cached(b"written"), Some(b"2".to_vec()));
    storage.one_off(|s, w| s.delete(w, b"written", DeleteRequest::default(), unix_now())).unwrap();
    assert_eq!(cached(b"written"), None);
    assert_eq!(get(&storage, b"written"), None);
    storage.one_off(|s, w| s.store(w, b"flushed", b"3", set(0), unix_now())).unwrap();
    storage.one_off(|s, w| s.flush_all(w, 0, unix_now())).unwrap();
    assert_eq!(cached(b"flushed"), None);
    assert_eq!(get(&storage, b"flushed"), None);
}

/// A set copies its item into the cache only if the key's item was there:
/// a key written and never read takes no room. Within one batch the last
/// write of a cached key is the one cached.
#[test]
fn only_items_that_were_cached_are_cached_again_by_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let cached = |key: &[u8]| {
        storage.shared.items.get(&mut ReadCounts::default(), storage.shared.keys.hash(key), key, |stored| {
            item::value(stored).to_vec()
        })
    };
    storage.one_off(|s, w| s.store(w, b"unread", b"1", set(0), unix_now())).unwrap();
    assert_eq!(cached(b"unread"), None);
    assert_eq!(get(&storage, b"unread"), Some(b"1".to_vec()));
    assert_eq!(cached(b"unread"), Some(b"1".to_vec()));
    // Read, so cached: two writes and a delete and a write in one round.
    storage
        .one_off(|s, w| {
            s.store(w, b"unread", b"2", set(0), unix_now())?;
            s.store(w, b"unread", b"3", set(0), unix_now())?;
            s.delete(w, b"unread", DeleteRequest::default(), unix_now())?;
            s.store(w, b"unread", b"4", set(0), unix_now())
        })
        .unwrap();
    assert_eq!(cached(b"unread"), Some(b"4".to_vec()));
    storage.one_off(|s, w| s.delete(w, b"unread", DeleteRequest::default(), unix_now())).unwrap();
    assert_eq!(cached(b"unread"), None);
    storage.one_off(|s, w| s.store(w, b"unread", b"5", set(0), unix_now())).unwrap();
    assert_eq!(cached(b"unread"), None);
    assert_eq!(get(&storage, b"unread"), Some(b"5".to_vec()));
}

/// A write that arrives while a miss is being filled must win: the fill
/// holds the key's lock, so the write waits and replaces the filled item.
#[test]
fn a_write_during_a_fill_is_not_hidden_by_the_older_item() {
    let dir = tempfile::tempdir().unwrap();
    let storage = std::sync::Arc::new(RocksStorage::open(&config(dir.path())).unwrap());
    storage.one_off(|s, w| s.store(w, b"k", b"old", set(0), unix_now())).unwrap();
    storage.shared.items.clear();
    let (wrote_tx, wrote_rx) = std::sync::mpsc::channel();
    let writer_storage = storage.clone();
    *storage.before_fill.lock().unwrap() = Some(Box::new(move || {
        let (storage, wrote_tx) = (writer_storage.clone(), wrote_tx.clone());
        std::thread::spawn(move || {
            storage.one_off(|s, w| s.store(w, b"k", b"new", set(0), unix_now())).unwrap();
            wrote_tx.send(()).unwrap();
        });
        // Give the write every chance to land before the fill.
        let _ = wrote_rx.recv_timeout(std::time::Duration::from_millis(200));
    }));
    assert_eq!(get(&storage, b"k"), Some(b"old".to_vec()));
    // The hook holds the store: drop it, or the store is never closed.
    *storage.before_fill.lock().unwrap() = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(&storage, b"k") != Some(b"new".to_vec()) {
        assert!(std::time::Instant::now() < deadline, "the write was hidden by the filled item");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cached = storage.shared.items.get(
        &mut ReadCounts::default(),
        storage.shared.keys.hash(b"k"),
        b"k",
        |stored| item::value(stored).to_vec(),
    );
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
                        .one_off(|s, w| {
                            s.store(w, key.as_bytes(), n.to_string().as_bytes(), set(0), unix_now())
                        })
                        .unwrap();
                    if n % 2 == 1 {
                        // Deletes send readers to RocksDB and to the fill path.
                        storage
                            .one_off(|s, w| s.delete(w, key.as_bytes(), DeleteRequest::default(), unix_now()))
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
                storage.one_off(|s, w| s.store(w, key.as_bytes(), b"before", set(0), unix_now())).unwrap();
            }
            if round % 3 == 0 {
                storage.flush_memtables().unwrap();
            }
            storage.one_off(|s, w| s.flush_all(w, 0, unix_now())).unwrap();
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
fn reads_write_nothing_unless_access_is_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.one_off(|s, w| s.store(w, b"k", b"v", set(0), unix_now())).unwrap();
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
