//! Eviction keeps what is read: reinsertion before a file goes, probation
//! for newcomers, and the write journal that both rest on.

use std::sync::Arc;

use std::time::Duration;

use super::*;

/// A store of 8 MiB without an item cache, so that every read is of disk.
fn small_store(dir: &Path) -> RocksStorage {
    RocksStorage::open(&StorageConfig { capacity: 8 << 20, item_cache_size: 0, ..config(dir) }).unwrap()
}

/// A write as a worker's round makes it: the worker lives on, as a
/// server's does, and so does its journal buffer.
fn put(storage: &RocksStorage, worker: &mut RocksWorker, key: &str, value: &[u8]) {
    storage.store(worker, key.as_bytes(), value, set(value.len()), unix_now()).unwrap();
    storage.commit(worker).unwrap();
}

/// Writes `bytes` of new 1 KiB items, reading `hot` every 50 writes. Writes
/// here outrun any real load: so as not to race the background work, it
/// flushes a memtable's worth (a file each, as when flushes keep up) and
/// makes an eviction pass every 64 writes.
fn write_stream(storage: &RocksStorage, from: usize, bytes: usize, hot: &[&str]) -> usize {
    write_stream_with(storage, &mut storage.worker(), from, bytes, hot)
}

fn write_stream_with(
    storage: &RocksStorage,
    worker: &mut RocksWorker,
    from: usize,
    bytes: usize,
    hot: &[&str],
) -> usize {
    let count = bytes / 1024;
    for i in from..from + count {
        put(
            storage,
            worker,
            &format!("stream-{i:08}"),
            &petrel_testkit::incompressible_value(i as u64, 1024),
        );
        if i % 50 == 0 {
            for key in hot {
                assert!(get(storage, key.as_bytes()).is_some(), "{key} was evicted after {i} writes");
            }
        }
        if i % 192 == 0 {
            storage.flush_memtables().unwrap();
        }
        if i % 64 == 0 {
            storage.evict_now();
        }
    }
    from + count
}

#[test]
fn a_key_read_continually_survives_a_write_stream_four_times_the_capacity_and_unread_keys_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_store(dir.path());
    // A second store in the same process, written to by nobody: it counts
    // no eviction of the first's.
    let neighbour_dir = tempfile::tempdir().unwrap();
    let neighbour = small_store(neighbour_dir.path());
    // One worker writes it all, as a busy server's does: its journal
    // records follow its writes closely.
    let mut worker = storage.worker();
    put(&storage, &mut worker, "hot", b"kept because read");
    put(&storage, &mut worker, "cold", b"never read");
    let reinserted_before = storage.shared.ledger.counts().reinserted;
    let reinserted_bytes_before = storage.shared.ledger.counts().reinserted_bytes;
    write_stream_with(&storage, &mut worker, 0, 32 << 20, &["hot"]);
    assert_eq!(get(&storage, b"hot"), Some(b"kept because read".to_vec()));
    assert_eq!(get(&storage, b"cold"), None, "an unread key written with the hot one is gone");
    assert_eq!(get(&storage, b"stream-00000100"), None, "and so are the unread ones after it");
    assert!(storage.shared.ledger.counts().reinserted > reinserted_before, "the hot key was written again");
    // Each copy's bytes are counted: at least its key and stored item.
    let copies = storage.shared.ledger.counts().reinserted - reinserted_before;
    let copied_bytes = storage.shared.ledger.counts().reinserted_bytes - reinserted_bytes_before;
    assert!(
        copied_bytes >= copies * ("hot".len() + "kept because read".len()) as u64,
        "{copied_bytes} for {copies}"
    );
    // Most of what was written is gone, and counted.
    let written = (32 << 20) / 1024 + 2;
    let evicted = storage.evicted();
    assert!(evicted >= written - (8 << 20) / 1024 && evicted <= written, "{evicted} of {written}");
    assert!(data_file_bytes(dir.path()) <= (8 << 20) + (2 << 20));
    // The store reports its own count; its neighbour has none.
    assert!(storage.stats().evictions >= evicted);
    assert_eq!(neighbour.stats().evictions, 0);
}

#[test]
fn newcomers_nobody_reads_leave_on_probation_once_the_store_is_nearly_full() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_store(dir.path());
    write_stream(&storage, 0, 6 << 20, &[]);
    assert_eq!(storage.shared.ledger.counts().unfetched, 0, "not nearly full yet");
    write_stream(&storage, 6 << 10, 16 << 20, &[]);
    let unfetched = storage.shared.ledger.counts().unfetched;
    assert!(unfetched > 0, "merges put unread newcomers out once nearly full");
    assert!(unfetched <= storage.evicted());
}

#[test]
fn the_journal_names_what_was_written_goes_on_after_a_restart_and_stays_out_of_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let newest_record = |storage: &RocksStorage| {
        let mut records = storage.db.raw_iterator();
        records.seek_for_prev(crate::eviction::journal::key(u64::MAX));
        records.key().and_then(crate::eviction::journal::position).expect("a record")
    };
    let before_restart = {
        let storage = small_store(dir.path());
        write_stream(&storage, 0, 1 << 20, &[]);
        newest_record(&storage)
    };
    let storage = small_store(dir.path());
    write_stream(&storage, 1 << 10, 1 << 20, &[]);
    assert!(newest_record(&storage) > before_restart, "positions go on; none is reused");
    // Every item is named by a record.
    let mut named = std::collections::HashSet::new();
    let mut records = storage.db.raw_iterator();
    records.seek(crate::eviction::journal::PREFIX);
    while let Some(record) = records.value() {
        named.extend(crate::eviction::journal::entries(record).map(|(key, _)| key.to_vec()));
        records.next();
    }
    for i in (0..2048).step_by(97) {
        assert!(named.contains(format!("stream-{i:08}").as_bytes()), "stream-{i:08} not in the journal");
    }
    // A key dump lists items only.
    let mut dump = storage.items();
    let mut listed = 0;
    while dump.next_part(unix_now(), &mut |key, _, _| {
        assert!(!crate::eviction::journal::is_journal(key));
        listed += 1;
        true
    }) == petrel_memcache_service::Walk::More
    {}
    assert_eq!(listed, 2048);
}

/// Stops every write, as RocksDB does when flushes or merges fall behind.
fn stall_writes(storage: &RocksStorage, stalled: bool) {
    let (stop, slowdown) = if stalled { ("1", "1") } else { ("36", "20") };
    storage
        .db
        .set_options(&[("level0_slowdown_writes_trigger", slowdown), ("level0_stop_writes_trigger", stop)])
        .unwrap();
}

#[test]
fn a_hot_item_is_copied_through_a_stall_of_writes_in_either_stall_mode() {
    for write_stall in [WriteStall::Wait, WriteStall::Busy] {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig { write_stall, item_cache_size: 0, ..config(dir.path()) };
        let storage = Arc::new(RocksStorage::open(&config).unwrap());
        let mut worker = storage.worker();
        put(&storage, &mut worker, "hot", b"read");
        put(&storage, &mut worker, "cold", b"never read");
        assert!(get(&storage, b"hot").is_some());
        // The record naming them, as the eviction thread writes a quiet
        // worker's; then a file in level 0, for the stall below.
        std::thread::sleep(Duration::from_millis(30));
        storage.shared.journal.write_idle(&storage.db, &rocksdb::WriteOptions::default());
        storage.flush_memtables().unwrap();
        let evicted_before = storage.evicted();

        stall_writes(&storage, true);
        let settling = {
            let storage = storage.clone();
            std::thread::spawn(move || storage.retirement.settle_all_now())
        };
        // Longer than a copy waits for room before it is written.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!settling.is_finished(), "{write_stall:?}: the copy waits for the stall to end");
        stall_writes(&storage, false);
        settling.join().unwrap();

        assert_eq!(storage.evicted() - evicted_before, 1, "{write_stall:?}: only the unread item");
        // The copy is in the memtable, to outlive their file.
        let mut memtable_only = rocksdb::ReadOptions::default();
        memtable_only.set_read_tier(rocksdb::ReadTier::Memtable);
        let mut entries = storage.db.raw_iterator_opt(memtable_only);
        entries.seek_to_first();
        let mut in_memtable = Vec::new();
        while let Some(key) = entries.key().filter(|key| !crate::eviction::journal::is_journal(key)) {
            in_memtable.push(key.to_vec());
            entries.next();
        }
        assert_eq!(in_memtable, [b"hot".to_vec()], "{write_stall:?}");
    }
}
