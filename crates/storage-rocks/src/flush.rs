//! `flush_all`'s horizon: items stored before it are gone once it has
//! passed. Every read, key dump, merge and copy compares an item's store
//! time with it; an immediate flush also closes a gate that eviction's
//! copies hold open, so that a copy never brings back a flushed item.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// See the module docs.
#[derive(Default)]
pub(crate) struct FlushHorizon {
    /// A Unix time; 0 for none.
    flushed_before: AtomicU64,
    gate: RwLock<()>,
}

impl FlushHorizon {
    /// Items stored before this Unix time are gone once it has passed.
    pub(crate) fn flushed_before(&self) -> u64 {
        self.flushed_before.load(Ordering::Acquire)
    }

    pub(crate) fn set(&self, flushed_before: u64) {
        self.flushed_before.store(flushed_before, Ordering::Release);
    }

    /// Held by an immediate flush while it writes.
    pub(crate) fn close(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write()
    }

    /// Held by eviction from its first look at an item to the write of its
    /// copy.
    pub(crate) fn hold_open(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read()
    }
}
