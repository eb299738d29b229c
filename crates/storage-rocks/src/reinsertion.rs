//! The eviction thread's copies (`eviction.rs`): the items a journal
//! record names, settled one by one as their file is about to go. One
//! still the one recorded, live, and read since it was written is written
//! again, the same bytes, CAS included, under the key's stripe; any other
//! is counted as evicted.
//!
//! While RocksDB stalls writes (flushes behind), a copy waits as the
//! workers' writes do; with `write_stall = "busy"` it is refused as theirs
//! are, and tried again holding no stripe once there is room: one refused
//! [`REFUSAL_RETRIES`] times is evicted, as it would have been anyway.

use std::hash::BuildHasher;
use std::sync::atomic::Ordering;

use metriken::{Counter, metric};
use petrel_protocol_memcache::EVICTIONS;
use petrel_protocol_memcache::rules::{self, ItemMeta, Liveness};
use petrel_protocol_memcache::unix_now;
use rocksdb::{ReadOptions, WriteBatch};

use crate::eviction::{Evictor, Pass, count_eviction};
use crate::item;
use crate::journal;
use crate::stripes::Stripes;

/// Copies are written this many at a time ...
const REINSERT_BATCH: usize = 128;
/// ... each batch once no flush is pending, or after this long.
const ROOM_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Copies a stall refuses are tried again this many times, after a wait
/// for room each.
const REFUSAL_RETRIES: usize = 3;

/// Items written again because they were read before their file went.
#[metric(
    name = "reinserted",
    description = "items written again because they were read before their file was evicted"
)]
pub static REINSERTED: Counter = Counter::new();

/// Their bytes as written (keys, items and the batch's framing): what the
/// policy adds to the disk's writes, beside the merges.
#[metric(
    name = "reinserted_bytes",
    description = "bytes of the items written again because they were read before their file was evicted"
)]
pub static REINSERTED_BYTES: Counter = Counter::new();

impl Evictor {
    /// Reads the journal from the frontier through `last`, and settles
    /// each item it names.
    pub(crate) fn reinsert_through(&self, pass: &mut Pass, last: u64) {
        let mut options = ReadOptions::default();
        options.fill_cache(false);
        let mut records = self.db.raw_iterator_opt(options);
        records.seek(journal::key(pass.frontier));
        let mut batch = WriteBatch::default();
        {
            // No `flush_all` between a look at an item and its copy's write.
            let _gate = self.flush_gate.read();
            while let (Some(key), Some(record)) = (records.key(), records.value()) {
                match journal::position(key) {
                    Some(position) if position <= last => {}
                    _ => break,
                }
                self.settle(pass, &mut batch, record, last);
                records.next();
            }
            self.write(pass, &mut batch);
        }
        self.retry_refused(pass, &mut batch, last);
    }

    /// Copies the items a stall refused once there is room, each still
    /// the one recorded and live; those refused [`REFUSAL_RETRIES`] times
    /// are evicted. (One whose file went meanwhile is gone uncounted.)
    fn retry_refused(&self, pass: &mut Pass, batch: &mut WriteBatch, last: u64) {
        for _ in 0..REFUSAL_RETRIES {
            if pass.refused.is_empty() {
                return;
            }
            // Holding no stripe, nor the gate a `flush_all` waits on.
            self.wait_for_room();
            let refused = std::mem::take(&mut pass.refused);
            let _gate = self.flush_gate.read();
            for (key, cas) in journal::entries(&refused) {
                self.copy(pass, batch, key, self.hasher.hash_one(key), cas);
            }
            self.write(pass, batch);
        }
        let evicted = journal::entries(&pass.refused).count() as u64;
        for (key, _) in journal::entries(&pass.refused) {
            pass.doomed.push_back((last, self.hasher.hash_one(key)));
        }
        EVICTIONS.add(evicted);
        self.filter_state.evicted.fetch_add(evicted, Ordering::Relaxed);
        pass.refused.clear();
    }

    /// Looks up the items a record names: each still the one recorded and
    /// live is written again if read since, and evicted with its file
    /// otherwise.
    fn settle(&self, pass: &mut Pass, batch: &mut WriteBatch, record: &[u8], last: u64) {
        let Some(items) = self.db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME) else { return };
        let entries: Vec<(&[u8], u64)> = journal::entries(record).collect();
        let found = self.db.batched_multi_get_cf(items, entries.iter().map(|(key, _)| key), false);
        for ((key, cas), found) in entries.iter().zip(found) {
            let Ok(Some(stored)) = found else { continue };
            let meta = item::decode(&stored);
            if !self.is_current(meta, *cas) {
                continue;
            }
            let hash = self.hasher.hash_one(key);
            if !self.access.was_read(hash) {
                let fetched = self.access.was_kept(hash);
                count_eviction(&self.filter_state, key, &stored, meta, fetched);
                // It goes with the file whose newest record is `last`.
                pass.doomed.push_back((last, hash));
                continue;
            }
            if batch.is_empty() {
                self.wait_for_room();
            }
            if self.copy(pass, batch, key, hash, *cas) {
                self.access.take_reinsertion(hash);
            }
        }
    }

    /// Before a batch of copies, holding no stripe: waits while a flush is
    /// pending, since the copies could fill the last memtable RocksDB
    /// allows and stall (a copy refused was an item evicted: 15% of them
    /// on the Zipf 0.99 eviction load before this wait), and while RocksDB
    /// stops or slows writes. Gives up after [`ROOM_WAIT`].
    fn wait_for_room(&self) {
        let deadline = std::time::Instant::now() + ROOM_WAIT;
        let property = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        let no_room = || {
            property("rocksdb.num-immutable-mem-table") > 0
                || property("rocksdb.is-write-stopped") > 0
                || property("rocksdb.actual-delayed-write-rate") > 0
        };
        while no_room() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Whether the item found is the one written with `cas`, and live.
    fn is_current(&self, found: Option<ItemMeta>, cas: u64) -> bool {
        let flushed_before = self.filter_state.flushed_before.load(Ordering::Acquire);
        found.is_some_and(|meta| {
            meta.cas == cas && rules::liveness(&meta, unix_now(), flushed_before) == Liveness::Live
        })
    }

    /// Adds to `batch` a copy of the item under `key` if it is still the
    /// one written with `cas`, and live, noting it for the batch's journal
    /// record and writing the batch once full; true if it did.
    fn copy(&self, pass: &mut Pass, batch: &mut WriteBatch, key: &[u8], hash: u64, cas: u64) -> bool {
        let stripe = Stripes::of(hash);
        if !pass.held.holds(stripe) && !pass.held.try_take(stripe) {
            // A worker's round holds it: write ours first, holding nothing
            // while waiting, as workers do.
            self.write(pass, batch);
            pass.held.take_waiting(stripe);
        }
        let Ok(Some(stored)) = self.db.get_pinned(key) else { return false };
        if !self.is_current(item::decode(&stored), cas) {
            return false;
        }
        batch.put(key, &stored);
        pass.journal.note(key, cas, 0);
        if batch.len() >= REINSERT_BATCH {
            self.write(pass, batch);
        }
        true
    }

    /// Writes the copies, with a journal record naming them, and releases
    /// their stripes.
    fn write(&self, pass: &mut Pass, batch: &mut WriteBatch) {
        let copies = batch.len() as u64;
        if copies > 0 {
            let bytes = batch.size_in_bytes() as u64;
            if let Some((key, record)) = pass.journal.record(&self.journal) {
                batch.put(key, record);
            }
            match self.db.write_opt(std::mem::take(batch), &pass.write_options) {
                Ok(()) => {
                    REINSERTED.add(copies);
                    REINSERTED_BYTES.add(bytes);
                }
                Err(error) if error.kind() == rocksdb::ErrorKind::Incomplete => {
                    // A stall: `retry_refused` tries them again.
                    pass.refused.extend_from_slice(pass.journal.entries());
                }
                Err(error) => {
                    // They leave with their file.
                    log::debug!("{copies} items not written again: {error}");
                    EVICTIONS.add(copies);
                    self.filter_state.evicted.fetch_add(copies, Ordering::Relaxed);
                }
            }
            pass.journal.clear();
        }
        pass.held.release_all();
    }
}
