//! Key dumps (`lru_crawler metadump`): every live item, read through one
//! RocksDB iterator. An iterator reads the store as it was when it was made
//! (an implicit snapshot), so a dump sees each item once whatever is
//! written meanwhile, and it takes no lock. While it lives it holds the
//! memtables and files it reads, so a dump that stays unread holds their
//! disk space; the connection's idle timeout ends it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use petrel_protocol_memcache::ItemCursor;
use petrel_protocol_memcache::rules::{self, ItemMeta, Liveness};
use rocksdb::{DB, DBRawIteratorWithThreadMode, ReadOptions};

use crate::compaction::FilterState;
use crate::item::{self, HEADER_LEN};
use crate::journal;

type RawIterator<'db> = DBRawIteratorWithThreadMode<'db, DB>;

self_cell::self_cell!(
    /// The database and an iterator over it, which borrows it.
    struct OwnedIterator {
        owner: Arc<DB>,
        #[not_covariant]
        dependent: RawIterator,
    }
);

/// The live items of a view of the store; see the module docs.
pub(crate) struct Dump {
    iterator: OwnedIterator,
    filter_state: Arc<FilterState>,
    started: bool,
}

impl Dump {
    pub(crate) fn new(db: Arc<DB>, filter_state: Arc<FilterState>) -> Self {
        let iterator = OwnedIterator::new(db, |db| {
            let mut options = ReadOptions::default();
            // A dump reads everything once: it must not push the hot
            // blocks out of the block cache.
            options.fill_cache(false);
            db.raw_iterator_opt(options)
        });
        Self { iterator, filter_state, started: false }
    }
}

impl ItemCursor for Dump {
    fn next_item(&mut self, now: u64, visit: &mut dyn FnMut(&[u8], &ItemMeta, usize)) -> bool {
        let flushed_before = self.filter_state.flushed_before.load(Ordering::Acquire);
        let started = std::mem::replace(&mut self.started, true);
        self.iterator.with_dependent_mut(|_, iterator| {
            if started {
                iterator.next()
            } else {
                iterator.seek_to_first()
            }
            while let (Some(key), Some(stored)) = (iterator.key(), iterator.value()) {
                if journal::is_journal(key) {
                    // The write journal follows every item key.
                    break;
                }
                if let Some(meta) = item::decode(stored)
                    && rules::liveness(&meta, now, flushed_before) == Liveness::Live
                {
                    visit(key, &meta, stored.len() - HEADER_LEN);
                    return true;
                }
                iterator.next();
            }
            if let Err(error) = iterator.status() {
                log::warn!("a key dump ended early: {error}");
            }
            false
        })
    }
}
