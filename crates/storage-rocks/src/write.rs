//! The write path: items encoded once into a reused buffer, written to
//! RocksDB and then to the item cache, and noted for the round's commit.

use std::sync::atomic::AtomicU64;

use petrel_protocol_memcache::StoreError;
use petrel_protocol_memcache::rules::ItemMeta;

use crate::{RocksStorage, item, write_failure};

impl RocksStorage {
    /// Notes a write for this thread's next commit, which fsyncs the log
    /// only with `sync_writes`.
    pub(crate) fn wrote(&self) {
        if self.sync_writes {
            UNCOMMITTED.with_borrow_mut(|stores| {
                if !stores.contains(&self.id) {
                    stores.push(self.id);
                }
            });
        }
    }

    /// Writes an item whose value is the concatenation of `parts`, encoding
    /// it once into a reused buffer. The caller holds the key's lock.
    pub(crate) fn put(
        &self,
        key: &[u8],
        hash: u64,
        meta: &ItemMeta,
        parts: &[&[u8]],
    ) -> Result<(), StoreError> {
        self.put_with(key, hash, meta, |out| parts.iter().for_each(|part| out.extend_from_slice(part)))
    }

    /// Writes an item whose value `value` appends after the header, in the
    /// reused buffer, to RocksDB and then to the item cache. The caller
    /// holds the key's lock.
    pub(crate) fn put_with(
        &self,
        key: &[u8],
        hash: u64,
        meta: &ItemMeta,
        value: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        ENCODED.with_borrow_mut(|buffer| {
            item::encode_with(meta, &[], buffer);
            value(buffer);
            let epoch = self.items.epoch();
            self.db.put_opt(key, &buffer[..], &self.write_options).map_err(write_failure)?;
            self.wrote();
            self.items.insert(epoch, hash, key, buffer);
            Ok(())
        })
    }
}

thread_local! {
    /// Where items are encoded before a write, reused so that a write
    /// allocates nothing in steady state.
    static ENCODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The stores (by [`RocksStorage::id`]) this thread wrote to since
    /// their last commit, which with `sync_writes` fsyncs the log: one entry
    /// per store, so that one store's commit does not stand for another's.
    pub(crate) static UNCOMMITTED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The next store's [`RocksStorage::id`].
pub(crate) static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(0);
