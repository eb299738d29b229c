//! One RocksDB write per round: what a worker's batch holds back, who sees
//! it when, and workers that want each other's stripes.

use std::sync::Arc;
use std::time::Duration;

use petrel_memcache_service::{ArithmeticRequest, Storage, unix_now};
use rocksdb::statistics::Ticker;

use super::*;

fn log_writes(storage: &RocksStorage) -> u64 {
    storage.statistics.get_ticker_count(Ticker::WriteWithWal)
}

fn fetch(storage: &RocksStorage, worker: &mut RocksWorker, key: &[u8]) -> Option<Vec<u8>> {
    let mut value = Vec::new();
    match storage.fetch(worker, key, FetchRequest::default(), Some(&mut value), unix_now()).unwrap() {
        Fetched::Hit(_) => Some(value),
        Fetched::Miss { .. } => None,
    }
}

/// Blind writes (`set`) never write the batch early; writes that read the
/// item first (`delete`, `incr`) do when their key's stripe is one the
/// worker already holds, which depends on the store's random hash.
#[test]
fn a_round_of_writes_reaches_the_log_in_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    // The first write reserves CAS values, a write of its own.
    storage.one_off(|s, w| s.store(w, b"warm-up", b"v", set(0), unix_now())).unwrap();
    let worker = &mut storage.worker();
    let before = log_writes(&storage);
    for i in 0..50 {
        storage.store(worker, format!("key-{i}").as_bytes(), b"value", set(0), unix_now()).unwrap();
    }
    assert_eq!(log_writes(&storage), before, "a write reached the log before the commit");
    storage.commit(worker).unwrap();
    assert_eq!(log_writes(&storage), before + 1, "the round took more than one log write");
    assert_eq!(get(&storage, b"key-49"), Some(b"value".to_vec()));

    // A delete and an incr in a round of their own: one write too.
    let before = log_writes(&storage);
    storage.delete(worker, b"warm-up", DeleteRequest::default(), unix_now()).unwrap();
    let incr = ArithmeticRequest {
        increment: true,
        delta: 1,
        compare_cas: None,
        new_cas: None,
        vivify: Some((0, Expiry::Never)),
        touch: None,
    };
    storage.arithmetic(worker, b"counter", incr, unix_now()).unwrap();
    storage.commit(worker).unwrap();
    let writes = log_writes(&storage) - before;
    assert!((1..=2).contains(&writes), "{writes} log writes for two writes");
    assert_eq!(get(&storage, b"warm-up"), None);
    assert_eq!(get(&storage, b"counter"), Some(b"0".to_vec()));
}

#[test]
fn a_worker_sees_its_writes_at_once_and_others_from_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    storage.one_off(|s, w| s.store(w, b"k", b"old", set(0), unix_now())).unwrap();
    let (writer, other) = (&mut storage.worker(), &mut storage.worker());
    storage.store(writer, b"k", b"new", set(0), unix_now()).unwrap();
    assert_eq!(
        fetch(&storage, other, b"k"),
        Some(b"old".to_vec()),
        "another worker saw an uncommitted write"
    );
    assert_eq!(fetch(&storage, writer, b"k"), Some(b"new".to_vec()), "the writer did not see its own write");
    // Appends read what the worker wrote last, even uncommitted.
    let append = StoreRequest { mode: petrel_memcache_service::StoreMode::Append, ..set(0) };
    storage.store(writer, b"k", b"-er", append, unix_now()).unwrap();
    storage.store(writer, b"k", b"!", append, unix_now()).unwrap();
    storage.commit(writer).unwrap();
    assert_eq!(fetch(&storage, other, b"k"), Some(b"new-er!".to_vec()));
}

/// Each worker holds a stripe the other then wants: the one that must wait
/// commits first and holds nothing while it waits, so both rounds finish.
#[test]
fn workers_wanting_each_others_stripes_both_finish() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(RocksStorage::open(&config(dir.path())).unwrap());
    let (mut first, mut second) = (storage.worker(), storage.worker());
    storage.store(&mut first, b"one", b"first", set(0), unix_now()).unwrap();
    storage.store(&mut second, b"two", b"second", set(0), unix_now()).unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for (mut worker, key) in [(first, b"two"), (second, b"one")] {
        let (storage, done_tx) = (storage.clone(), done_tx.clone());
        std::thread::spawn(move || {
            storage.store(&mut worker, key, b"crossed", set(0), unix_now()).unwrap();
            storage.commit(&mut worker).unwrap();
            done_tx.send(()).unwrap();
        });
    }
    for _ in 0..2 {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("two workers deadlocked on each other's stripes");
    }
    assert_eq!(get(&storage, b"one"), Some(b"crossed".to_vec()));
    assert_eq!(get(&storage, b"two"), Some(b"crossed".to_vec()));
}

/// A batch RocksDB refuses fails the round's commit, and none of its writes
/// is seen.
#[test]
fn a_refused_batch_fails_the_commit_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let busy = StorageConfig { write_stall: WriteStall::Busy, ..config(dir.path()) };
    let storage = RocksStorage::open(&busy).unwrap();
    storage.one_off(|s, w| s.store(w, b"kept", b"v", set(0), unix_now())).unwrap();
    storage.db.flush().unwrap();
    let worker = &mut storage.worker();
    storage.store(worker, b"lost", b"v", set(0), unix_now()).unwrap();
    storage.store(worker, b"kept", b"overwritten", set(0), unix_now()).unwrap();
    // The stall begins after the round's first write.
    storage
        .db
        .set_options(&[("level0_slowdown_writes_trigger", "1"), ("level0_stop_writes_trigger", "1")])
        .unwrap();
    let failure = storage.commit(worker).expect_err("the refused batch was taken as committed");
    assert_eq!(failure.reply, "307 busy");
    assert_eq!(get(&storage, b"lost"), None);
    assert_eq!(get(&storage, b"kept"), Some(b"v".to_vec()));
    // The next round starts clean.
    storage.commit(worker).unwrap();
}

/// What reached the disk, which `stats` reports for write amplification
/// (the gauges are the process's, so the store's own counts are checked):
/// the log at the commit, a file at a flush.
#[test]
fn the_bytes_written_to_disk_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RocksStorage::open(&config(dir.path())).unwrap();
    let written = |ticker| storage.statistics.get_ticker_count(ticker);
    let (wal, flushed) = (written(Ticker::WalFileBytes), written(Ticker::FlushWriteBytes));
    let value = vec![b'v'; 1000];
    let store_all = |s: &RocksStorage, w: &mut RocksWorker| {
        (0..100)
            .try_for_each(|i| s.store(w, format!("k{i}").as_bytes(), &value, set(0), unix_now()).map(drop))
    };
    storage.one_off(store_all).unwrap();
    assert!(written(Ticker::WalFileBytes) >= wal + 100_000, "the log holds the values");
    storage.flush_memtables().unwrap();
    assert!(written(Ticker::FlushWriteBytes) > flushed, "the flush wrote a file");
}
