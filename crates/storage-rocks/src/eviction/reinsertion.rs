//! The retirement's copies (`retirement.rs`): the items a journal
//! record names, settled one by one as their file is about to go. One
//! still the one recorded, live, and read since it was written is written
//! again, the same bytes, CAS included, under the key's stripe; any other
//! is counted as evicted.
//!
//! While RocksDB stalls writes (flushes behind), a copy waits as the
//! workers' writes do; with `write_stall = "busy"` it is refused as theirs
//! are, and tried again holding no stripe once there is room: one refused
//! [`REFUSAL_RETRIES`] times is evicted, as it would have been anyway.

use std::collections::VecDeque;

use petrel_memcache_service::ItemMeta;
use petrel_memcache_service::rules::{self, Liveness};
use petrel_memcache_service::unix_now;
use rocksdb::{DB, ReadOptions, WriteBatch, WriteOptions};

use super::journal::{self, JournalBuffer};
use crate::item;
use crate::key_hash;
use crate::shared::Shared;
use crate::stripes::HeldStripes;

/// Copies are written this many at a time ...
const REINSERT_BATCH: usize = 128;
/// ... each batch once no flush is pending, or after this long.
const ROOM_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Copies a stall refuses are tried again this many times, after a wait
/// for room each.
const REFUSAL_RETRIES: usize = 3;

/// The copies' state, kept from pass to pass.
pub(crate) struct Reinsertion {
    /// The stripes of the copies in `batch`.
    held: HeldStripes,
    batch: WriteBatch,
    /// The journal record naming them.
    journal: JournalBuffer,
    /// Copies a stall refused, to try again: keys and CASes, encoded as a
    /// journal record's entries.
    refused: Vec<u8>,
    write_options: WriteOptions,
}

/// What settling a journal record needs: the database, what the store
/// shares, where evicted items go, and the newest record of the file they
/// leave with.
struct Settling<'a> {
    db: &'a DB,
    shared: &'a Shared,
    doomed: &'a mut VecDeque<(u64, u64)>,
    last: u64,
}

impl Reinsertion {
    pub(crate) fn new(shared: &Shared) -> Self {
        let mut write_options = WriteOptions::default();
        // On a stall, copies wait as the workers' writes do, or are refused
        // as theirs are with `write_stall = "busy"` (and tried again). Were
        // they refused while workers wait, a write-heavy load would keep
        // them out: the waiting writes go first when room comes.
        write_options.set_no_slowdown(shared.busy_on_stall);
        Self {
            held: HeldStripes::new(shared.stripes.clone()),
            batch: WriteBatch::default(),
            journal: JournalBuffer::new(shared.memtable),
            refused: Vec::new(),
            write_options,
        }
    }

    /// How the eviction thread writes: through the log (RocksDB refuses
    /// writes without it once log files are reused, `options.rs`), and a
    /// stall as the workers take it.
    pub(crate) fn write_options(&self) -> &WriteOptions {
        &self.write_options
    }

    /// Reads the journal from `from` through `last`, and settles each item
    /// it names; the items evicted go to `doomed` with `last`, the newest
    /// record of the file they leave with.
    pub(crate) fn settle_through(
        &mut self,
        db: &DB,
        shared: &Shared,
        from: u64,
        last: u64,
        doomed: &mut VecDeque<(u64, u64)>,
    ) {
        let mut settling = Settling { db, shared, doomed, last };
        let mut options = ReadOptions::default();
        options.fill_cache(false);
        let mut records = db.raw_iterator_opt(options);
        records.seek(journal::key(from));
        {
            // No `flush_all` between a look at an item and its copy's write.
            let _gate = shared.flush.hold_open();
            while let (Some(key), Some(record)) = (records.key(), records.value()) {
                match journal::position(key) {
                    Some(position) if position <= last => {}
                    _ => break,
                }
                self.settle(&mut settling, record);
                records.next();
            }
            self.write(&settling);
        }
        self.retry_refused(&mut settling);
    }

    /// Copies the items a stall refused once there is room, each still
    /// the one recorded and live; those refused [`REFUSAL_RETRIES`] times
    /// are evicted. (One whose file went meanwhile is gone uncounted.)
    fn retry_refused(&mut self, settling: &mut Settling<'_>) {
        for _ in 0..REFUSAL_RETRIES {
            if self.refused.is_empty() {
                return;
            }
            // Holding no stripe, nor the gate a `flush_all` waits on.
            wait_for_room(settling.db);
            let refused = std::mem::take(&mut self.refused);
            let _gate = settling.shared.flush.hold_open();
            for (key, cas) in journal::entries(&refused) {
                self.copy(settling, key, settling.shared.keys.hash(key), cas);
            }
            self.write(settling);
        }
        let evicted = journal::entries(&self.refused).count() as u64;
        for (key, _) in journal::entries(&self.refused) {
            settling.doomed.push_back((settling.last, settling.shared.keys.hash(key)));
        }
        settling.shared.ledger.evicted_unnamed(evicted);
        self.refused.clear();
    }

    /// Looks up the items a record names: each still the one recorded and
    /// live is written again if read since, and evicted with its file
    /// otherwise.
    fn settle(&mut self, settling: &mut Settling<'_>, record: &[u8]) {
        let (db, shared) = (settling.db, settling.shared);
        let Some(items) = db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME) else { return };
        let entries: Vec<(&[u8], u64)> = journal::entries(record).collect();
        let found = db.batched_multi_get_cf(items, entries.iter().map(|(key, _)| key), false);
        for ((key, cas), found) in entries.iter().zip(found) {
            let Ok(Some(stored)) = found else { continue };
            let meta = item::decode(&stored);
            if !is_current(shared, meta, *cas) {
                continue;
            }
            let hash = shared.keys.hash(key);
            if !shared.policy.was_read(hash) {
                shared.ledger.evicted(key, &stored, meta, shared.policy.was_kept(hash));
                settling.doomed.push_back((settling.last, hash));
                continue;
            }
            if self.batch.is_empty() {
                wait_for_room(db);
            }
            if self.copy(settling, key, hash, *cas) {
                shared.policy.take_reinsertion(hash);
            }
        }
    }

    /// Adds to the batch a copy of the item under `key` if it is still the
    /// one written with `cas`, and live, noting it for the batch's journal
    /// record and writing the batch once full; true if it did.
    fn copy(&mut self, settling: &Settling<'_>, key: &[u8], hash: u64, cas: u64) -> bool {
        let stripe = key_hash::stripe(hash);
        if !self.held.holds(stripe) && !self.held.try_take(stripe) {
            // A worker's round holds it: write ours first, holding nothing
            // while waiting, as workers do.
            self.write(settling);
            self.held.take_waiting(stripe);
        }
        let Ok(Some(stored)) = settling.db.get_pinned(key) else { return false };
        if !is_current(settling.shared, item::decode(&stored), cas) {
            return false;
        }
        self.batch.put(key, &stored);
        self.journal.note(key, cas, 0);
        if self.batch.len() >= REINSERT_BATCH {
            self.write(settling);
        }
        true
    }

    /// Writes the copies, with a journal record naming them, and releases
    /// their stripes.
    fn write(&mut self, settling: &Settling<'_>) {
        let copies = self.batch.len() as u64;
        if copies > 0 {
            let bytes = self.batch.size_in_bytes() as u64;
            let ledger = &settling.shared.ledger;
            if let Some((key, record)) = self.journal.record(&settling.shared.journal) {
                self.batch.put(key, record);
            }
            match settling.db.write_opt(std::mem::take(&mut self.batch), &self.write_options) {
                Ok(()) => ledger.reinserted(copies, bytes),
                Err(error) if error.kind() == rocksdb::ErrorKind::Incomplete => {
                    // A stall: `retry_refused` tries them again.
                    self.refused.extend_from_slice(self.journal.entries());
                }
                Err(error) => {
                    // They leave with their file.
                    log::debug!("{copies} items not written again: {error}");
                    ledger.evicted_unnamed(copies);
                }
            }
            self.journal.clear();
        }
        self.held.release_all();
    }
}

/// Whether the item found is the one written with `cas`, and live.
fn is_current(shared: &Shared, found: Option<ItemMeta>, cas: u64) -> bool {
    let flushed_before = shared.flush.flushed_before();
    found.is_some_and(|meta| {
        meta.cas == cas && rules::liveness(&meta, unix_now(), flushed_before) == Liveness::Live
    })
}

/// Before a batch of copies, holding no stripe: waits while a flush is
/// pending, since the copies could fill the last memtable RocksDB allows
/// and stall (a copy refused was an item evicted: 15% of them on the Zipf
/// 0.99 eviction load before this wait), and while RocksDB stops or slows
/// writes. Gives up after [`ROOM_WAIT`].
fn wait_for_room(db: &DB) {
    let deadline = std::time::Instant::now() + ROOM_WAIT;
    let property = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
    let no_room = || {
        property("rocksdb.num-immutable-mem-table") > 0
            || property("rocksdb.is-write-stopped") > 0
            || property("rocksdb.actual-delayed-write-rate") > 0
    };
    while no_room() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
