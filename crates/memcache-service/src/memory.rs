//! An in-memory [`Storage`]: the reference backend for tests and examples,
//! and the model of a backend: it reads, locks and writes, and leaves every
//! memcached decision to [`rules`](crate::rules).
//!
//! Items live in hash maps split into shards, each behind its own mutex, so
//! operations on different keys rarely contend and each operation on one key
//! is atomic. It has no size limit and no eviction: it is a reference for
//! behaviour, not a cache to deploy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::report::StorageStats;
use crate::rules::{self, ArithmeticDecision, DeleteDecision, Liveness, NewValue, StoreDecision};
use crate::store::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, ItemCursor, ItemMeta, Storage,
    StorageError, StoreRequest, Stored, Walk,
};

const SHARDS: usize = 16;

#[derive(Debug, Clone)]
struct Item {
    meta: ItemMeta,
    value: Vec<u8>,
}

type Shard = HashMap<Vec<u8>, Item>;

/// Items in memory; see the module docs.
#[derive(Debug)]
pub struct MemoryStorage {
    shards: Vec<Mutex<Shard>>,
    next_cas: AtomicU64,
    /// Items stored before this Unix time are gone once it has passed.
    flushed_before: AtomicU64,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next_cas: AtomicU64::new(1),
            flushed_before: AtomicU64::new(0),
        }
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        // FNV-1a: stable, and good enough to spread keys over 16 shards.
        let hash =
            key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        self.shards[(hash % SHARDS as u64) as usize].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_cas(&self, given: Option<u64>) -> u64 {
        given.unwrap_or_else(|| self.next_cas.fetch_add(1, Ordering::Relaxed))
    }

    /// The live item under `key`, dropping it if it has expired or been
    /// flushed; and whether it was dropped for having expired.
    fn live<'m>(&self, shard: &'m mut Shard, key: &[u8], now: u64) -> (Option<&'m mut Item>, bool) {
        let flushed_before = self.flushed_before.load(Ordering::Acquire);
        match shard.get(key).map(|item| rules::liveness(&item.meta, now, flushed_before)) {
            None => (None, false),
            Some(Liveness::Live) => (shard.get_mut(key), false),
            Some(gone) => {
                shard.remove(key);
                (None, gone == Liveness::Expired)
            }
        }
    }
}

impl Storage for MemoryStorage {
    /// Nothing is kept per worker.
    type Worker = ();

    fn worker(&self) {}

    fn fetch(
        &self,
        _: &mut (),
        key: &[u8],
        fetch: FetchRequest,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Fetched, StorageError> {
        let mut shard = self.shard(key);
        let (item, expired) = self.live(&mut shard, key, now);
        let Some(item) = item else {
            let Some(expiry) = fetch.vivify else { return Ok(Fetched::Miss { expired }) };
            let meta = ItemMeta { cas: self.new_cas(fetch.new_cas), ..rules::vivified(expiry, now) };
            shard.insert(key.to_vec(), Item { meta, value: Vec::new() });
            return Ok(Fetched::Hit(meta.found(0, true, false, now)));
        };
        let outcome = rules::fetch(&item.meta, item.value.len(), &fetch, now, true);
        item.meta = outcome.meta;
        if let Some(value) = value {
            value.extend_from_slice(&item.value);
        }
        Ok(Fetched::Hit(outcome.found))
    }

    fn store(
        &self,
        _: &mut (),
        key: &[u8],
        data: &[u8],
        request: StoreRequest,
        now: u64,
    ) -> Result<Stored, StorageError> {
        let mut shard = self.shard(key);
        let (item, _) = self.live(&mut shard, key, now);
        let existing = item.as_ref().map(|item| (&item.meta, item.value.len()));
        let (mut meta, value) = match rules::store(existing, &request, data.len(), now) {
            StoreDecision::Refuse(answer) => return Ok(answer),
            StoreDecision::Write { meta, value, .. } => (meta, value),
        };
        let old = item.map(|item| std::mem::take(&mut item.value)).unwrap_or_default();
        let value = match value {
            NewValue::Data => data.to_vec(),
            NewValue::Append => [&old[..], data].concat(),
            NewValue::Prepend => [data, &old[..]].concat(),
        };
        meta.cas = self.new_cas(request.new_cas);
        let size = value.len() as u64;
        shard.insert(key.to_vec(), Item { meta, value });
        Ok(Stored::Stored { cas: meta.cas, size })
    }

    fn delete(
        &self,
        _: &mut (),
        key: &[u8],
        request: DeleteRequest,
        now: u64,
    ) -> Result<Deleted, StorageError> {
        let mut shard = self.shard(key);
        let (item, _) = self.live(&mut shard, key, now);
        let Some(item) = item else { return Ok(Deleted::NotFound) };
        match rules::delete(&item.meta, &request) {
            DeleteDecision::Refuse(answer) => return Ok(answer),
            DeleteDecision::Remove => {
                shard.remove(key);
            }
            DeleteDecision::Rewrite { mut meta, keep_value } => {
                meta.cas = self.new_cas(request.new_cas);
                item.meta = meta;
                if !keep_value {
                    item.value.clear();
                }
            }
        }
        Ok(Deleted::Deleted)
    }

    fn arithmetic(
        &self,
        _: &mut (),
        key: &[u8],
        request: ArithmeticRequest,
        now: u64,
    ) -> Result<Counted, StorageError> {
        let mut shard = self.shard(key);
        let (item, _) = self.live(&mut shard, key, now);
        let existing = item.as_ref().map(|item| (&item.meta, &item.value[..]));
        let (mut meta, counter) = match rules::arithmetic(existing, &request, now) {
            ArithmeticDecision::Refuse(answer) => return Ok(answer),
            ArithmeticDecision::Write { meta, counter } => (meta, counter),
        };
        meta.cas = self.new_cas(request.new_cas);
        let mut value = Vec::with_capacity(counter.stored_len());
        counter.write(&mut value);
        shard.insert(key.to_vec(), Item { meta, value });
        Ok(Counted::Value(counter.value, meta.info(counter.stored_len())))
    }

    fn flush_all(&self, _: &mut (), at: u64, now: u64) -> Result<(), StorageError> {
        if at <= now {
            for shard in &self.shards {
                shard.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
            // As in memcached, a flush now replaces one still pending.
            self.flushed_before.store(0, Ordering::Release);
        } else {
            self.flushed_before.store(at, Ordering::Release);
        }
        Ok(())
    }

    fn stats(&self) -> StorageStats {
        let mut stats = StorageStats::default();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            stats.items += shard.len() as u64;
            stats.bytes += shard.iter().map(|(key, item)| (key.len() + item.value.len()) as u64).sum::<u64>();
        }
        stats
    }

    /// A copy of every item's key and metadata: the reference store has no
    /// snapshots, and its dumps are small.
    fn items(&self) -> Box<dyn ItemCursor> {
        let flushed_before = self.flushed_before.load(Ordering::Acquire);
        let mut items = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            items.extend(shard.iter().map(|(key, item)| (key.clone(), item.meta, item.value.len())));
        }
        Box::new(CopiedItems { items: items.into_iter(), flushed_before })
    }
}

/// The items of a dump of the memory store.
struct CopiedItems {
    items: std::vec::IntoIter<(Vec<u8>, ItemMeta, usize)>,
    flushed_before: u64,
}

impl ItemCursor for CopiedItems {
    fn next_part(&mut self, now: u64, visit: &mut dyn FnMut(&[u8], &ItemMeta, usize) -> bool) -> Walk {
        for (key, meta, value_len) in self.items.by_ref() {
            if rules::liveness(&meta, now, self.flushed_before) == Liveness::Live
                && !visit(&key, &meta, value_len)
            {
                return Walk::More;
            }
        }
        Walk::End
    }
}
