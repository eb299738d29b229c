//! An in-memory [`Storage`]: the reference backend for tests and examples.
//!
//! Items live in hash maps split into shards, each behind its own mutex, so
//! operations on different keys rarely contend and each operation on one key
//! is atomic. It has no size limit and no eviction: it is a reference for
//! behaviour, not a cache to deploy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::number::{next_counter, write_u64};
use crate::store::{
    Arithmetic, Counted, Delete, Deleted, Expiry, Fetch, Fetched, Found, ItemInfo, Storage, Store,
    StoreError, StoreMode, Stored,
};
use crate::store::{BYTES, CURR_ITEMS};

const SHARDS: usize = 16;

#[derive(Debug, Clone)]
struct Item {
    value: Vec<u8>,
    flags: u32,
    cas: u64,
    expiry: Expiry,
    /// When the item was last stored, for `flush_all` with a delay.
    stored_at: u64,
    last_access: u64,
    fetched: bool,
    stale: bool,
    win_sent: bool,
}

impl Item {
    fn new(value: Vec<u8>, flags: u32, expiry: Expiry, cas: u64, now: u64) -> Self {
        Self {
            value,
            flags,
            cas,
            expiry,
            stored_at: now,
            last_access: now,
            fetched: false,
            stale: false,
            win_sent: false,
        }
    }

    fn info(&self) -> ItemInfo {
        ItemInfo { flags: self.flags, cas: self.cas, expiry: self.expiry, size: self.value.len() as u64 }
    }
}

/// Items in memory; see the module docs.
#[derive(Debug)]
pub struct MemoryStorage {
    shards: Vec<Mutex<HashMap<Vec<u8>, Item>>>,
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

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Item>> {
        // FNV-1a: stable, and good enough to spread keys over 16 shards.
        let hash =
            key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        self.shards[(hash % SHARDS as u64) as usize].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_cas(&self, given: Option<u64>) -> u64 {
        given.unwrap_or_else(|| self.next_cas.fetch_add(1, Ordering::Relaxed))
    }

    /// The live item under `key`, dropping it if it has expired or been
    /// flushed. Returns whether an expired item was dropped.
    fn live<'m>(
        &self,
        map: &'m mut HashMap<Vec<u8>, Item>,
        key: &[u8],
        now: u64,
    ) -> (Option<&'m mut Item>, bool) {
        let flushed_before = self.flushed_before.load(Ordering::Acquire);
        let dead = match map.get(key) {
            None => return (None, false),
            Some(item) => {
                let flushed = flushed_before <= now && item.stored_at < flushed_before;
                if item.expiry.is_expired(now) || flushed { Some(!flushed) } else { None }
            }
        };
        match dead {
            Some(expired) => {
                map.remove(key);
                (None, expired)
            }
            None => (map.get_mut(key), false),
        }
    }

    /// Puts a new item under `key`; returns its size.
    fn insert(map: &mut HashMap<Vec<u8>, Item>, key: &[u8], item: Item) -> u64 {
        let size = item.value.len() as u64;
        map.insert(key.to_vec(), item);
        size
    }
}

impl Storage for MemoryStorage {
    fn fetch(
        &self,
        key: &[u8],
        fetch: Fetch,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Fetched, StoreError> {
        let mut map = self.shard(key);
        let (item, expired) = self.live(&mut map, key, now);
        let Some(item) = item else {
            if let Some(expiry) = fetch.vivify {
                let cas = self.new_cas(fetch.new_cas);
                Self::insert(&mut map, key, Item::new(Vec::new(), 0, expiry, cas, now));
                let item = map.get_mut(key).expect("just inserted");
                item.win_sent = true;
                return Ok(Fetched::Hit(Found {
                    info: item.info(),
                    stale: false,
                    won: true,
                    already_won: false,
                    fetched_before: false,
                    idle_seconds: 0,
                }));
            }
            return Ok(Fetched::Miss { expired });
        };
        let fetched_before = item.fetched;
        let idle_seconds = now.saturating_sub(item.last_access);
        if let Some(expiry) = fetch.touch {
            item.expiry = expiry;
        }
        let mut won = false;
        let mut already_won = false;
        let wants_win = item.stale
            || item.value.is_empty() && fetch.vivify.is_some()
            || matches!(fetch.recache_below, Some(below) if item.expiry.ttl(now) != -1 && item.expiry.ttl(now) < below);
        if wants_win {
            if item.win_sent {
                already_won = true;
            } else {
                item.win_sent = true;
                won = true;
            }
        }
        if !fetch.no_bump {
            item.fetched = true;
            item.last_access = now;
        }
        if let Some(value) = value {
            value.extend_from_slice(&item.value);
        }
        Ok(Fetched::Hit(Found {
            info: item.info(),
            stale: item.stale,
            won,
            already_won,
            fetched_before,
            idle_seconds,
        }))
    }

    fn store(&self, key: &[u8], data: &[u8], request: Store, now: u64) -> Result<Stored, StoreError> {
        let mut map = self.shard(key);
        let (item, _) = self.live(&mut map, key, now);
        let mut stale = false;
        match (&item, request.compare_cas) {
            (None, Some(_)) => return Ok(Stored::NotFound),
            (Some(item), Some(cas)) if item.cas != cas => {
                if request.invalidate && cas < item.cas {
                    stale = true;
                } else {
                    return Ok(Stored::Exists);
                }
            }
            _ => {}
        }
        let (value, flags, expiry) = match (request.mode, item) {
            (StoreMode::Add, Some(_)) | (StoreMode::Replace, None) => return Ok(Stored::NotStored),
            (StoreMode::Append | StoreMode::Prepend, None) => match request.vivify {
                Some(expiry) => (data.to_vec(), request.flags, expiry),
                None => return Ok(Stored::NotStored),
            },
            (StoreMode::Append, Some(item)) => ([&item.value[..], data].concat(), item.flags, item.expiry),
            (StoreMode::Prepend, Some(item)) => ([data, &item.value[..]].concat(), item.flags, item.expiry),
            (StoreMode::Set | StoreMode::Add | StoreMode::Replace, _) => {
                (data.to_vec(), request.flags, request.expiry)
            }
        };
        if value.len() > request.max_size {
            return Ok(Stored::TooLarge);
        }
        let cas = self.new_cas(request.new_cas);
        let size = Self::insert(&mut map, key, Item::new(value, flags, expiry, cas, now));
        if stale {
            map.get_mut(key).expect("just inserted").stale = true;
        }
        Ok(Stored::Stored { cas, size })
    }

    fn delete(&self, key: &[u8], request: Delete, now: u64) -> Result<Deleted, StoreError> {
        let mut map = self.shard(key);
        let (item, _) = self.live(&mut map, key, now);
        let Some(item) = item else { return Ok(Deleted::NotFound) };
        if matches!(request.compare_cas, Some(cas) if cas != item.cas) {
            return Ok(Deleted::Exists);
        }
        if request.invalidate || request.remove_value {
            if request.invalidate {
                item.stale = true;
                item.win_sent = false;
                if let Some(expiry) = request.touch {
                    item.expiry = expiry;
                }
            }
            if request.remove_value {
                item.value.clear();
            }
            item.cas = self.new_cas(request.new_cas);
        } else {
            map.remove(key);
        }
        Ok(Deleted::Deleted)
    }

    fn arithmetic(&self, key: &[u8], request: Arithmetic, now: u64) -> Result<Counted, StoreError> {
        let mut map = self.shard(key);
        let (item, _) = self.live(&mut map, key, now);
        let Some(item) = item else {
            return Ok(match request.vivify {
                Some((initial, expiry)) => {
                    let mut value = Vec::new();
                    write_u64(&mut value, initial);
                    let cas = self.new_cas(request.new_cas);
                    Self::insert(&mut map, key, Item::new(value, 0, expiry, cas, now));
                    Counted::Value(initial, map[key].info())
                }
                None => Counted::NotFound,
            });
        };
        if matches!(request.compare_cas, Some(cas) if cas != item.cas) {
            return Ok(Counted::Exists);
        }
        let Some(counter) = next_counter(&item.value, request.increment, request.delta) else {
            return Ok(Counted::NonNumeric);
        };
        item.value.clear();
        counter.write(&mut item.value);
        item.cas = self.new_cas(request.new_cas);
        item.stored_at = now;
        if let Some(expiry) = request.touch {
            item.expiry = expiry;
        }
        Ok(Counted::Value(counter.value, item.info()))
    }

    fn flush_all(&self, at: u64, now: u64) -> Result<(), StoreError> {
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

    fn refresh_stats(&self) {
        let (mut items, mut bytes) = (0i64, 0i64);
        for shard in &self.shards {
            let map = shard.lock().unwrap_or_else(|e| e.into_inner());
            items += map.len() as i64;
            bytes += map.iter().map(|(k, v)| (k.len() + v.value.len()) as i64).sum::<i64>();
        }
        CURR_ITEMS.set(items);
        BYTES.set(bytes);
    }
}
