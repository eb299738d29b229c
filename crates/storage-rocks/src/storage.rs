//! The [`Storage`] seam on RocksDB: read, lock, write; every decision is
//! memcached's, from [`rules`].

use metriken::{Gauge, metric};
use petrel_memcache_service::rules::{self, ArithmeticDecision, DeleteDecision, NewValue, StoreDecision};
use petrel_memcache_service::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, ItemCursor, ItemMeta, Storage,
    StorageError, StorageStats, StoreRequest, Stored,
};
use rocksdb::WriteBatch;
use rocksdb::statistics::Ticker;

use crate::bookkeeping::FLUSH_KEY;
use crate::dump::Dump;
use crate::eviction::journal;
use crate::failure::write_failure;
use crate::read::Lookup;
use crate::write::RocksWorker;
use crate::{RocksStorage, item};

#[metric(name = "rocksdb_block_cache_usage", description = "bytes held by RocksDB's block cache")]
static BLOCK_CACHE_USAGE: Gauge = Gauge::new();
#[metric(name = "rocksdb_memtable_bytes", description = "bytes in RocksDB's memtables")]
pub(crate) static MEMTABLE_BYTES: Gauge = Gauge::new();
#[metric(name = "rocksdb_live_sst_bytes", description = "bytes of live RocksDB SST files")]
static LIVE_SST_BYTES: Gauge = Gauge::new();
#[metric(
    name = "rocksdb_live_blob_bytes",
    description = "bytes of live RocksDB blob files (items of blob_threshold bytes or more)"
)]
static LIVE_BLOB_BYTES: Gauge = Gauge::new();
#[metric(
    name = "rocksdb_wal_written_bytes",
    description = "bytes RocksDB wrote to its write-ahead log since it opened"
)]
static WAL_WRITTEN_BYTES: Gauge = Gauge::new();
#[metric(name = "rocksdb_flush_written_bytes", description = "bytes RocksDB's flushes wrote since it opened")]
static FLUSH_WRITTEN_BYTES: Gauge = Gauge::new();
#[metric(
    name = "rocksdb_compaction_written_bytes",
    description = "bytes RocksDB's merges wrote since it opened"
)]
static COMPACTION_WRITTEN_BYTES: Gauge = Gauge::new();
#[metric(
    name = "rocksdb_pending_compaction_bytes",
    description = "bytes RocksDB estimates compaction must rewrite"
)]
static PENDING_COMPACTION_BYTES: Gauge = Gauge::new();

impl Storage for RocksStorage {
    type Worker = RocksWorker;

    fn worker(&self) -> RocksWorker {
        RocksWorker::new(self.shared.stripes.clone(), self.shared.journal.buffer(self.shared.memtable))
    }

    fn fetch(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        fetch: FetchRequest,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Fetched, StorageError> {
        let mut value = value;
        let hash = self.shared.keys.hash(key);
        self.before_read(worker, hash);
        let changes_item = fetch.touch.is_some() || fetch.vivify.is_some() || fetch.recache_below.is_some();
        if !changes_item {
            // The common case: a plain read, without a lock when the item
            // cache has it, and no write unless the rules change the item.
            if let Some(answer) =
                self.fetch_without_write(&mut worker.reads, key, hash, &fetch, value.as_deref_mut(), now)?
            {
                if let Fetched::Hit(_) = answer {
                    self.shared.policy.on_read(hash);
                }
                return Ok(answer);
            }
        }
        // The item changes: read, decide and write under the key's lock.
        self.lock_for_write(worker, hash, true);
        let (read, stored) = match (self.read(key, now)?, fetch.vivify) {
            (Lookup::Live(meta, stored), _) => (meta, stored),
            (Lookup::Missing, None) => return Ok(Fetched::Miss { expired: false }),
            (Lookup::Expired, None) => return Ok(Fetched::Miss { expired: true }),
            (_, Some(expiry)) => {
                let meta = ItemMeta { cas: self.new_cas(fetch.new_cas)?, ..rules::vivified(expiry, now) };
                self.put(worker, key, hash, &meta, &[])?;
                return Ok(Fetched::Hit(meta.found(0, true, false, now)));
            }
        };
        let data = item::value(&stored);
        let outcome = rules::fetch(&read, data.len(), &fetch, now, self.track_access);
        if let Some(value) = value {
            value.extend_from_slice(data);
        }
        if outcome.meta != read {
            self.put(worker, key, hash, &outcome.meta, &[data])?;
        }
        self.shared.policy.on_read(hash);
        Ok(Fetched::Hit(outcome.found))
    }

    fn store(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        data: &[u8],
        request: StoreRequest,
        now: u64,
    ) -> Result<Stored, StorageError> {
        let hash = self.shared.keys.hash(key);
        let reads_existing = rules::store_reads_existing(&request);
        self.lock_for_write(worker, hash, reads_existing);
        let existing = match reads_existing {
            false => None,
            true => match self.read(key, now)? {
                Lookup::Live(meta, stored) => Some((meta, stored)),
                Lookup::Missing | Lookup::Expired => None,
            },
        };
        let current = existing.as_ref().map_or(&[][..], |(_, stored)| item::value(stored));
        let read = existing.as_ref().map(|(meta, _)| (meta, current.len()));
        let (mut meta, value, size) = match rules::store(read, &request, data.len(), now) {
            StoreDecision::Refuse(answer) => return Ok(answer),
            StoreDecision::Write { meta, value, size } => (meta, value, size),
        };
        meta.cas = self.new_cas(request.new_cas)?;
        let parts = match value {
            NewValue::Data => [data, &[]],
            NewValue::Append => [current, data],
            NewValue::Prepend => [data, current],
        };
        self.put(worker, key, hash, &meta, &parts)?;
        Ok(Stored::Stored { cas: meta.cas, size: size as u64 })
    }

    fn delete(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        request: DeleteRequest,
        now: u64,
    ) -> Result<Deleted, StorageError> {
        let hash = self.shared.keys.hash(key);
        self.lock_for_write(worker, hash, true);
        let Lookup::Live(meta, stored) = self.read(key, now)? else { return Ok(Deleted::NotFound) };
        match rules::delete(&meta, &request) {
            DeleteDecision::Refuse(answer) => return Ok(answer),
            DeleteDecision::Remove => self.remove(worker, key, hash)?,
            DeleteDecision::Rewrite { mut meta, keep_value } => {
                meta.cas = self.new_cas(request.new_cas)?;
                let value = if keep_value { item::value(&stored) } else { &[][..] };
                self.put(worker, key, hash, &meta, &[value])?;
            }
        }
        Ok(Deleted::Deleted)
    }

    fn arithmetic(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        request: ArithmeticRequest,
        now: u64,
    ) -> Result<Counted, StorageError> {
        let hash = self.shared.keys.hash(key);
        self.lock_for_write(worker, hash, true);
        let lookup = self.read(key, now)?;
        let existing = match &lookup {
            Lookup::Live(meta, stored) => Some((meta, item::value(stored))),
            Lookup::Missing | Lookup::Expired => None,
        };
        let (mut meta, counter) = match rules::arithmetic(existing, &request, now) {
            ArithmeticDecision::Refuse(answer) => return Ok(answer),
            ArithmeticDecision::Write { meta, counter } => (meta, counter),
        };
        meta.cas = self.new_cas(request.new_cas)?;
        self.put_with(worker, key, hash, &meta, |out| counter.write(out))?;
        Ok(Counted::Value(counter.value, meta.info(counter.stored_len())))
    }

    fn flush_all(&self, worker: &mut RocksWorker, at: u64, now: u64) -> Result<(), StorageError> {
        // The worker's earlier writes first, so that the flush covers them.
        self.write_batch(worker);
        if at > now {
            // Later: remember the moment; reads and the next writes compare
            // each item's store time with it.
            self.write_meta(FLUSH_KEY, at)?;
            self.shared.flush.set(at);
            return Ok(());
        }
        // Now: one range tombstone over every possible key (at most 250
        // bytes, so all sort below 251 bytes of 0xff, where the write
        // journal begins), through the log like any write, so it holds after
        // a restart. Writes that follow sort above it in sequence and survive.
        let mut batch = WriteBatch::default();
        batch.delete_range(&[][..], &journal::PREFIX[..]);
        let gate = self.shared.flush.close();
        self.db.write_opt(batch, &self.write_options).map_err(write_failure)?;
        drop(gate);
        self.shared.items.clear();
        // As in memcached, a flush now replaces one still pending.
        if self.shared.flush.flushed_before() > now {
            self.write_meta(FLUSH_KEY, 0)?;
            self.shared.flush.set(0);
        }
        Ok(())
    }

    fn commit(&self, worker: &mut RocksWorker) -> Result<(), StorageError> {
        self.commit_round(worker)
    }

    fn writes(&self, worker: &RocksWorker) -> u64 {
        worker.writes
    }

    fn items(&self) -> Box<dyn ItemCursor> {
        Box::new(Dump::new(self.db.clone(), self.shared.clone()))
    }

    fn stats(&self) -> StorageStats {
        let property = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        let memtables = property("rocksdb.cur-size-all-mem-tables");
        let sst = property("rocksdb.live-sst-files-size");
        let blobs = property("rocksdb.live-blob-file-size");
        MEMTABLE_BYTES.set(memtables as i64);
        LIVE_SST_BYTES.set(sst as i64);
        LIVE_BLOB_BYTES.set(blobs as i64);
        PENDING_COMPACTION_BYTES.set(property("rocksdb.estimate-pending-compaction-bytes") as i64);
        BLOCK_CACHE_USAGE.set(self.block_cache.get_usage() as i64);
        // What reached the disk, for write amplification: the log, flushed
        // files, and what merges rewrote.
        let written = |ticker| self.statistics.get_ticker_count(ticker) as i64;
        WAL_WRITTEN_BYTES.set(written(Ticker::WalFileBytes));
        FLUSH_WRITTEN_BYTES.set(written(Ticker::FlushWriteBytes));
        COMPACTION_WRITTEN_BYTES.set(written(Ticker::CompactWriteBytes));
        let items = journal::count_items(&self.db, &self.shared.journal);
        let evictions = self.shared.ledger.publish().evicted;
        StorageStats { items, bytes: memtables + sst + blobs, evictions }
    }
}
