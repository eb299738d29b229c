//! The memory all connections' buffers may hold together.
//!
//! Each buffer may grow to its own limit, but thousands of connections each
//! holding half a large request would add up to more than the machine has.
//! A [`MemoryBudget`] is shared by the sessions of one server and counts the
//! bytes their buffers hold above their initial size: a read buffer may grow
//! only while the budget has room (else its connection is closed), and while
//! the budget is spent no session takes requests that would grow a write
//! buffer further. Buffers at their initial size cost the budget nothing,
//! so small requests are never refused.

use std::sync::atomic::{AtomicUsize, Ordering};

use metriken::{Gauge, metric};

#[metric(
    name = "buffer_bytes",
    description = "bytes connection buffers hold above their initial size, counted against buffers.memory_limit"
)]
static BUFFER_BYTES: Gauge = Gauge::new();

/// Bytes the buffers of one server's connections may hold above their
/// initial size. Touched only when a buffer grows or shrinks, never per
/// request.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit, used: AtomicUsize::new(0) }
    }

    /// A budget that never refuses (for tests and tools).
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// Takes `bytes` if they fit.
    pub(crate) fn try_take(&self, bytes: usize) -> bool {
        let taken = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(bytes).filter(|&total| total <= self.limit)
        });
        if taken.is_ok() {
            BUFFER_BYTES.add(bytes as i64);
        }
        taken.is_ok()
    }

    /// Takes `bytes` whether they fit or not: a response already composed.
    pub(crate) fn take(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
        BUFFER_BYTES.add(bytes as i64);
    }

    /// Gives back `bytes` taken earlier.
    pub(crate) fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        BUFFER_BYTES.sub(bytes as i64);
    }

    /// Whether nothing is left.
    pub fn is_spent(&self) -> bool {
        self.used.load(Ordering::Relaxed) >= self.limit
    }

    /// Bytes taken now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// An unlimited budget to share among a test's buffers.
#[cfg(test)]
pub(crate) fn unlimited() -> std::sync::Arc<MemoryBudget> {
    std::sync::Arc::new(MemoryBudget::unlimited())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_fits_and_gives_back() {
        let budget = MemoryBudget::new(100);
        assert!(budget.try_take(60));
        assert!(!budget.try_take(41));
        assert!(budget.try_take(40));
        assert!(budget.is_spent());
        budget.give_back(50);
        assert_eq!(budget.used(), 50);
        budget.take(80);
        assert!(budget.is_spent());
        assert!(!budget.try_take(1));
    }
}
