//! The write path: one RocksDB write per round of requests.
//!
//! A worker's writes are encoded once into its [`PendingWrites`] and reach
//! RocksDB together, in one batch (one log append), when the round commits
//! ([`Storage::commit`](petrel_memcache_service::Storage::commit)), before
//! any reply of the round leaves. Then the items that were in the item
//! cache go there again: a key set but never read takes no room there, and
//! its set pays for no copy (its first read fills the cache from RocksDB).
//!
//! Until then nobody sees them, and every key written keeps its stripe
//! locked (`stripes.rs`):
//! - another worker reads the value from before, which is right: the write
//!   is not acknowledged yet. It cannot fill the item cache with that value
//!   (fills skip a held stripe), and a write of its own to the key waits;
//! - this worker sees its own writes: before it reads a key whose stripe it
//!   holds, it writes its batch.
//!
//! A batch is written early when it grows past [`BATCH_LIMIT`], when the
//! worker must wait for another's stripe, and before `flush_all`. A batch
//! that fails is remembered, and the round's commit reports it, so that
//! every write of the round is answered as failed.

use petrel_memcache_service::ItemMeta;
use petrel_memcache_service::StorageError;
use rocksdb::WriteBatch;

use crate::eviction::journal::{self, SharedBuffer};
use crate::failure::write_failure;
use crate::item_cache::{KeyHashes, ReadCounts};
use crate::pending::{BATCH_LIMIT, PendingWrites};
use crate::stripes::{HeldStripes, Stripes};
use crate::{RocksStorage, item, key_hash};

/// One worker's state in its use of a [`RocksStorage`]: created once per
/// worker by that store ([`Storage::worker`](petrel_memcache_service::Storage::worker))
/// and passed to every operation on it, never to another store's.
#[derive(Debug)]
pub struct RocksWorker {
    /// Writes since the last batch, in order.
    pending: PendingWrites,
    /// The stripes of the keys in `pending`.
    stripes: HeldStripes,
    /// Keys written since the last journal record.
    journal: SharedBuffer,
    /// The keys of the batch being written whose items were in the item
    /// cache: their new items go there.
    cached: KeyHashes,
    /// The first failure of a batch written since the last commit.
    failure: Option<StorageError>,
    /// Writes left for a commit to make durable, ever: `Storage::writes`.
    pub(crate) writes: u64,
    /// Item cache reads this round.
    pub(crate) reads: ReadCounts,
}

impl RocksWorker {
    pub(crate) fn new(stripes: Stripes, journal: SharedBuffer) -> Self {
        Self {
            pending: PendingWrites::default(),
            stripes: HeldStripes::new(stripes),
            journal,
            cached: KeyHashes::default(),
            failure: None,
            writes: 0,
            reads: ReadCounts::default(),
        }
    }
}

impl RocksStorage {
    /// Takes the stripe of a key about to be written, for the rest of the
    /// round. `reads_first`: the write depends on the key's item, so a write
    /// of this worker's still in its batch must reach RocksDB first.
    pub(crate) fn lock_for_write(&self, worker: &mut RocksWorker, hash: u64, reads_first: bool) {
        let stripe = key_hash::stripe(hash);
        if worker.stripes.holds(stripe) {
            if !reads_first {
                return;
            }
            self.write_batch(worker);
        } else if worker.stripes.try_take(stripe) {
            return;
        } else {
            // Another worker's round holds it. Wait for its commit, holding
            // nothing, so that it can never be waiting for us.
            self.write_batch(worker);
        }
        worker.stripes.take_waiting(stripe);
    }

    /// Before a read of the key whose hash is `hash`: makes a write of this
    /// worker's to it visible.
    pub(crate) fn before_read(&self, worker: &mut RocksWorker, hash: u64) {
        if worker.stripes.holds(key_hash::stripe(hash)) {
            self.write_batch(worker);
        }
    }

    /// Adds to the worker's batch an item whose value is the concatenation
    /// of `parts`. The worker holds the key's stripe.
    pub(crate) fn put(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        hash: u64,
        meta: &ItemMeta,
        parts: &[&[u8]],
    ) -> Result<(), StorageError> {
        self.put_with(worker, key, hash, meta, |out| {
            parts.iter().for_each(|part| out.extend_from_slice(part))
        })
    }

    /// Adds to the worker's batch an item whose value `value` appends after
    /// the header. The worker holds the key's stripe.
    pub(crate) fn put_with(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        hash: u64,
        meta: &ItemMeta,
        value: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StorageError> {
        self.refuse_if_stalled(worker)?;
        worker.pending.put_with(hash, key, |out| {
            item::encode_with(meta, &[], out);
            value(out);
        });
        self.added(worker);
        Ok(())
    }

    /// Adds to the worker's batch a delete of `key`. The worker holds the
    /// key's stripe.
    pub(crate) fn remove(&self, worker: &mut RocksWorker, key: &[u8], hash: u64) -> Result<(), StorageError> {
        self.refuse_if_stalled(worker)?;
        worker.pending.delete(hash, key);
        self.added(worker);
        Ok(())
    }

    fn added(&self, worker: &mut RocksWorker) {
        worker.writes += 1;
        if worker.pending.len() >= BATCH_LIMIT {
            self.write_batch(worker);
        }
    }

    /// With `write_stall = "busy"`, refuses a round's first write while
    /// RocksDB stalls writes, so that the round's writes are answered busy
    /// (`SERVER_ERROR 307 busy`) rather than failing together at the commit.
    fn refuse_if_stalled(&self, worker: &RocksWorker) -> Result<(), StorageError> {
        if self.shared.busy_on_stall && worker.pending.is_empty() && self.writes_stalled() {
            return Err(crate::failure::busy());
        }
        Ok(())
    }

    fn writes_stalled(&self) -> bool {
        let property = |name| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        property(rocksdb::properties::IS_WRITE_STOPPED) != 0
            || property(rocksdb::properties::ACTUAL_DELAYED_WRITE_RATE) != 0
    }

    /// Writes the worker's batch to RocksDB in one write, then to the item
    /// cache, and releases its stripes. A failure is kept for the commit.
    pub(crate) fn write_batch(&self, worker: &mut RocksWorker) {
        if !worker.pending.is_empty() {
            // Read before the write: a `flush_all` after it refuses the
            // cache inserts below.
            let epoch = self.shared.items.epoch();
            let mut batch = WriteBatch::with_capacity_bytes(worker.pending.len() + 1024);
            let mut journal = journal::lock(&worker.journal);
            for write in worker.pending.iter() {
                // Out of the cache while RocksDB changes: a read that missed
                // the cache just before may find the new item in RocksDB, and
                // a read after it must not find the old one in the cache.
                // A later write of a key in the batch counts as cached if
                // an earlier one did, so the batch's last item is the one
                // cached.
                if self.shared.items.remove(write.hash) {
                    worker.cached.insert(write.hash);
                }
                match write.item {
                    Some(item) => {
                        batch.put(write.key, item);
                        journal.note(write.key, item::cas(item), item.len());
                        self.shared.policy.on_write(write.hash);
                    }
                    None => batch.delete(write.key),
                }
            }
            if let Some((key, record)) = journal.due(&self.shared.journal) {
                batch.put(key, record);
                journal.clear();
            }
            drop(journal);
            match self.db.write_opt(batch, &self.write_options) {
                Ok(()) => {
                    if !worker.cached.is_empty() {
                        for write in worker.pending.iter() {
                            if !worker.cached.contains(&write.hash) {
                                continue;
                            }
                            match write.item {
                                Some(item) => self.shared.items.insert(epoch, write.hash, write.key, item),
                                // A put of the key earlier in the batch went in.
                                None => {
                                    self.shared.items.remove(write.hash);
                                }
                            }
                        }
                    }
                }
                Err(error) => {
                    let failure = write_failure(error);
                    worker.failure.get_or_insert(failure);
                }
            }
            worker.pending.clear();
            worker.cached.clear();
        }
        worker.stripes.release_all();
    }

    /// The round's commit: writes the batch; fails if it or any batch
    /// written early since the last commit failed.
    pub(crate) fn commit_round(&self, worker: &mut RocksWorker) -> Result<(), StorageError> {
        worker.reads.publish();
        self.write_batch(worker);
        match worker.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}
