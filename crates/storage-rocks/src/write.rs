//! The write path: items encoded once into the worker's buffer, written to
//! RocksDB and then to the item cache, and noted for the round's commit.

use petrel_protocol_memcache::StorageError;
use petrel_protocol_memcache::rules::ItemMeta;

use crate::{RocksStorage, item, write_failure};

/// One worker's state in its use of a [`RocksStorage`]: created once per
/// worker by that store ([`Storage::worker`](petrel_protocol_memcache::Storage::worker))
/// and passed to every operation on it, never to another store's.
#[derive(Debug, Default)]
pub struct RocksWorker {
    /// Where items are encoded before a write, reused so that a write
    /// allocates nothing in steady state.
    encoded: Vec<u8>,
    /// This worker wrote since its last commit, which with `sync_writes`
    /// fsyncs the log.
    pub(crate) uncommitted: bool,
    /// Writes left for a commit to make durable, ever: `Storage::writes`.
    pub(crate) writes: u64,
}

impl RocksStorage {
    /// Notes a write for the worker's next commit, which has something to
    /// do (fsync the log) only with `sync_writes`.
    pub(crate) fn wrote(&self, worker: &mut RocksWorker) {
        if self.sync_writes {
            worker.writes += 1;
            worker.uncommitted = true;
        }
    }

    /// Writes an item whose value is the concatenation of `parts`, encoding
    /// it once into the worker's buffer. The caller holds the key's lock.
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

    /// Writes an item whose value `value` appends after the header, in the
    /// worker's buffer, to RocksDB and then to the item cache. The caller
    /// holds the key's lock.
    pub(crate) fn put_with(
        &self,
        worker: &mut RocksWorker,
        key: &[u8],
        hash: u64,
        meta: &ItemMeta,
        value: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StorageError> {
        let buffer = &mut worker.encoded;
        item::encode_with(meta, &[], buffer);
        value(buffer);
        let epoch = self.items.epoch();
        self.db.put_opt(key, &buffer[..], &self.write_options).map_err(write_failure)?;
        self.items.insert(epoch, hash, key, buffer);
        self.wrote(worker);
        Ok(())
    }
}
