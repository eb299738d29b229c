//! The meta column family: the CAS high-water mark and a pending
//! `flush_all`, written synced so that neither goes backwards after a crash;
//! and what a reopened store recovers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use petrel_memcache_service::StorageError;
use rocksdb::WriteOptions;

use crate::RocksStorage;
use crate::eviction::journal;
use crate::failure::{failure, write_failure};

/// The column family of the bookkeeping.
pub(crate) const META: &str = "meta";
const CAS_RESERVED_KEY: &[u8] = b"cas-reserved";
pub(crate) const FLUSH_KEY: &[u8] = b"flushed-before";

/// CAS values are reserved on disk this many at a time.
const CAS_RESERVATION: u64 = 1 << 20;

/// Where CAS values come from.
#[derive(Default)]
pub(crate) struct CasCounter {
    /// The next value.
    next: AtomicU64,
    /// Values below this are reserved on disk.
    reserved: AtomicU64,
    /// Held while a new reservation is written.
    renewal: Mutex<()>,
}

impl RocksStorage {
    /// Restores the CAS counter and any pending flush from the meta family.
    pub(crate) fn recover(&self) -> Result<(), String> {
        // Values below the old reservation may have been handed out before a
        // crash: start above it. The first new value reserves a new block.
        let reserved = self.read_meta(CAS_RESERVED_KEY)?.unwrap_or(1);
        self.cas.next.store(reserved, Ordering::Release);
        self.cas.reserved.store(reserved, Ordering::Release);
        self.shared.flush.set(self.read_meta(FLUSH_KEY)?.unwrap_or(0));
        // The write journal goes on after its newest record.
        let mut records = self.db.raw_iterator();
        records.seek_for_prev(journal::key(u64::MAX));
        self.shared.journal.continue_after(records.key().and_then(journal::position));
        Ok(())
    }

    fn read_meta(&self, key: &[u8]) -> Result<Option<u64>, String> {
        let meta = self.db.cf_handle(META).ok_or("no meta column family")?;
        match self.db.get_pinned_cf(&meta, key).map_err(|e| e.to_string())? {
            None => Ok(None),
            Some(bytes) => {
                let bytes: [u8; 8] =
                    bytes.as_ref().try_into().map_err(|_| format!("bad meta value for {key:?}"))?;
                Ok(Some(u64::from_le_bytes(bytes)))
            }
        }
    }

    /// Persists `value` under a meta key, synced: bookkeeping must never
    /// go backwards after a crash.
    pub(crate) fn write_meta(&self, key: &[u8], value: u64) -> Result<(), StorageError> {
        let meta = self.db.cf_handle(META).ok_or_else(|| failure("no meta column family".into()))?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        sync.set_no_slowdown(self.shared.busy_on_stall);
        self.db.put_cf_opt(&meta, key, value.to_le_bytes(), &sync).map_err(write_failure)
    }

    /// A new CAS value: unique, increasing, and never reused after a
    /// restart. One atomic increment, plus a synced write of the next
    /// reservation once per [`CAS_RESERVATION`] values.
    pub(crate) fn new_cas(&self, given: Option<u64>) -> Result<u64, StorageError> {
        if let Some(cas) = given {
            return Ok(cas);
        }
        let cas = self.cas.next.fetch_add(1, Ordering::AcqRel);
        if cas < self.cas.reserved.load(Ordering::Acquire) {
            return Ok(cas);
        }
        let _renewal = self.cas.renewal.lock().unwrap_or_else(|e| e.into_inner());
        if cas >= self.cas.reserved.load(Ordering::Acquire) {
            let reserved = cas + CAS_RESERVATION;
            self.write_meta(CAS_RESERVED_KEY, reserved)?;
            self.cas.reserved.store(reserved, Ordering::Release);
        }
        Ok(cas)
    }
}
