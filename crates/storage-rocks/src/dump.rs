//! Key dumps (`lru_crawler metadump`): every live item of a RocksDB
//! snapshot taken when the dump began, so a dump sees each item once
//! whatever is written meanwhile, and takes no lock.
//!
//! Each part of a dump opens an iterator on the snapshot, seeks past the
//! last key it gave, and closes it at the part's end. An open iterator
//! pins the memtables and table files it reads; closed between parts, a
//! dump whose client stops reading pins none, so the files that eviction
//! drops meanwhile are deleted and disk stays within the capacity. (A
//! snapshot keeps only the versions of keys overwritten since; eviction's
//! compaction filter drops items whatever the snapshot.) A part also stops
//! after a bounded number of entries, so a store full of expired items is
//! skipped a slice at a time while the worker serves its other clients.

use std::sync::Arc;

use petrel_memcache_service::ItemMeta;
use petrel_memcache_service::rules::{self, Liveness};
use petrel_memcache_service::{ItemCursor, Walk};
use rocksdb::{DB, ReadOptions, SnapshotWithThreadMode};

use crate::eviction::journal;
use crate::item::{self, HEADER_LEN};
use crate::shared::Shared;

/// Most entries one part looks at, live or not.
const ENTRIES_PER_PART: usize = 4096;

type Snapshot<'db> = SnapshotWithThreadMode<'db, DB>;

self_cell::self_cell!(
    /// The database and a snapshot of it, which borrows it.
    struct OwnedSnapshot {
        owner: Arc<DB>,
        #[covariant]
        dependent: Snapshot,
    }
);

/// The live items of a view of the store; see the module docs.
pub(crate) struct Dump {
    snapshot: OwnedSnapshot,
    shared: Arc<Shared>,
    /// The last key a part looked at, to go on after; `None` before the
    /// first part.
    after: Option<Vec<u8>>,
}

impl Dump {
    pub(crate) fn new(db: Arc<DB>, shared: Arc<Shared>) -> Self {
        Self { snapshot: OwnedSnapshot::new(db, |db| db.snapshot()), shared, after: None }
    }
}

impl ItemCursor for Dump {
    fn next_part(&mut self, now: u64, visit: &mut dyn FnMut(&[u8], &ItemMeta, usize) -> bool) -> Walk {
        let flushed_before = self.shared.flush.flushed_before();
        let after = &mut self.after;
        self.snapshot.with_dependent(|_, snapshot| {
            let mut options = ReadOptions::default();
            // A dump reads everything once: it must not push the hot
            // blocks out of the block cache.
            options.fill_cache(false);
            let mut iterator = snapshot.raw_iterator_opt(options);
            match after.as_deref() {
                None => iterator.seek_to_first(),
                Some(last) => {
                    iterator.seek(last);
                    if iterator.key() == Some(last) {
                        iterator.next();
                    }
                }
            }
            let mut looked = 0;
            while let (Some(key), Some(stored)) = (iterator.key(), iterator.value()) {
                if journal::is_journal(key) {
                    // The write journal follows every item key.
                    break;
                }
                looked += 1;
                let mut part_full = false;
                if let Some(meta) = item::decode(stored)
                    && rules::liveness(&meta, now, flushed_before) == Liveness::Live
                {
                    part_full = !visit(key, &meta, stored.len() - HEADER_LEN);
                }
                if part_full || looked == ENTRIES_PER_PART {
                    let last = after.get_or_insert_with(Vec::new);
                    last.clear();
                    last.extend_from_slice(key);
                    return Walk::More;
                }
                iterator.next();
            }
            if let Err(error) = iterator.status() {
                log::warn!("a key dump ended early: {error}");
            }
            Walk::End
        })
    }
}
