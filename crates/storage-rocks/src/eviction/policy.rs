//! The eviction policy: S3-FIFO (Yang et al., SOSP 2023) laid over a store
//! that can only drop whole files and merge the newest ones. It knows, in
//! memory and in tables of a fixed size, per key hash: how often the item
//! was read since written (0 to 3), whether it is past probation, and a
//! ghost of newcomers dropped unread. The store tells it what happens
//! (`on_read`, `on_write`, `on_dropped`); the merges and the retirement of
//! the oldest files ask it what to keep:
//!
//! - **Probation.** A newcomer unread by the time its file is merged (the
//!   store merges each flushed file once, after
//!   [`WINDOW_FILES`](super::merging::WINDOW_FILES) newer ones:
//!   `merging.rs`), while the store is nearly full, is dropped by the merge
//!   (`filter.rs`) and its hash goes into the ghost.
//! - **Admission.** A key written again while its hash is in the ghost was
//!   wanted back: it skips probation.
//! - **Reinsertion.** Before the oldest file goes, its items read since
//!   written are written again (`retirement.rs`, `reinsertion.rs`), one
//!   read fewer each time.
//!
//! Keys share a slot when their hashes do: a collision makes an unread item
//! look read, which costs a reinsertion, never a wrong answer. Reads take
//! no lock and write a slot only while its count is below 3, so a hot key
//! costs its readers a load, not a contended store.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crate::key_hash;

/// Bytes of capacity per slot: with items of 1 KiB, sixteen slots per
/// item. Keys that share a slot share their counts, and a write starts the
/// slot over: at four slots per item a fifth of the items lost their reads
/// to a neighbour's write, which cost 0.004 of hit ratio on the
/// eviction loads (docs/performance.md, "Probation and reinsertion judged
/// soon after a flush").
pub(crate) const CAPACITY_PER_SLOT: u64 = 64;
/// Slot bits: reads since written, saturating ...
const READS: u8 = 0b011;
/// ... and past probation (admitted from the ghost, or reinserted).
const KEPT: u8 = 0b100;
/// The ghost remembers a dropped newcomer for this many epochs ...
const GHOST_EPOCHS: u64 = 4;
/// ... of which it tells apart this many (one byte per slot, 0 for none).
const EPOCH_STAMPS: u64 = 255;

/// The tables; see the module docs.
pub(crate) struct Policy {
    slots: Box<[AtomicU8]>,
    ghosts: Box<[AtomicU8]>,
    mask: u64,
    /// Newcomers dropped since the store opened: the ghost's clock.
    dropped: AtomicU64,
    /// Drops per ghost epoch: a quarter of the items the store holds, so
    /// that the ghost remembers about as many keys as the store keeps.
    epoch_length: AtomicU64,
    /// The store is nearly full: merges put unread newcomers out.
    probation: AtomicBool,
    /// Tests: on probation whatever the fill.
    #[cfg(test)]
    held_on_probation: AtomicBool,
}

impl Policy {
    /// Tables for a store of `capacity` bytes: two bytes per
    /// [`CAPACITY_PER_SLOT`].
    pub(crate) fn new(capacity: u64) -> Self {
        let slots = (capacity / CAPACITY_PER_SLOT).clamp(1 << 12, 1 << 32).next_power_of_two();
        let table = || (0..slots).map(|_| AtomicU8::new(0)).collect::<Box<[_]>>();
        Self {
            slots: table(),
            ghosts: table(),
            mask: slots - 1,
            dropped: AtomicU64::new(0),
            epoch_length: AtomicU64::new(1024),
            probation: AtomicBool::new(false),
            #[cfg(test)]
            held_on_probation: AtomicBool::new(false),
        }
    }

    fn index(&self, hash: u64) -> usize {
        key_hash::slot(hash, self.mask)
    }

    /// A read found the item.
    pub(crate) fn on_read(&self, hash: u64) {
        let slot = &self.slots[self.index(hash)];
        let state = slot.load(Ordering::Relaxed);
        if state & READS < READS {
            slot.store(state + 1, Ordering::Relaxed);
        }
    }

    /// A new item is written under the key: unread, and past probation if
    /// the ghost remembers the key.
    pub(crate) fn on_write(&self, hash: u64) {
        let index = self.index(hash);
        let state = if self.in_ghost(index) { KEPT } else { 0 };
        if self.slots[index].load(Ordering::Relaxed) != state {
            self.slots[index].store(state, Ordering::Relaxed);
        }
    }

    /// Whether the item was read since written.
    pub(crate) fn was_read(&self, hash: u64) -> bool {
        self.slots[self.index(hash)].load(Ordering::Relaxed) & READS > 0
    }

    /// Whether the item was ever past probation: read, or wanted back.
    pub(crate) fn was_kept(&self, hash: u64) -> bool {
        self.slots[self.index(hash)].load(Ordering::Relaxed) & KEPT != 0
    }

    /// Whether the item is worth writing again before its file goes: read
    /// since written. If so it takes one read off and marks it kept.
    pub(crate) fn take_reinsertion(&self, hash: u64) -> bool {
        let slot = &self.slots[self.index(hash)];
        let state = slot.load(Ordering::Relaxed);
        let reinsert = state & READS > 0;
        if reinsert {
            slot.store((state - 1) | KEPT, Ordering::Relaxed);
        }
        reinsert
    }

    /// Whether a merge (of flushed files only, `merging.rs`) drops the
    /// item now: the store is nearly full, and nobody read the item since it
    /// was written, nor wanted it back.
    pub(crate) fn drops_on_probation(&self, hash: u64) -> bool {
        self.probation.load(Ordering::Relaxed) && self.slots[self.index(hash)].load(Ordering::Relaxed) == 0
    }

    /// Tests: the store is on probation from now on, however full.
    #[cfg(test)]
    pub(crate) fn hold_on_probation(&self) {
        self.held_on_probation.store(true, Ordering::Relaxed);
        self.probation.store(true, Ordering::Relaxed);
    }

    /// A merge dropped the newcomer: the ghost remembers it.
    pub(crate) fn on_dropped(&self, hash: u64) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed);
        self.ghosts[self.index(hash)].store(self.stamp(dropped), Ordering::Relaxed);
    }

    fn stamp(&self, dropped: u64) -> u8 {
        let epoch = dropped / self.epoch_length.load(Ordering::Relaxed).max(1);
        (epoch % EPOCH_STAMPS + 1) as u8
    }

    fn in_ghost(&self, index: usize) -> bool {
        let stamp = self.ghosts[index].load(Ordering::Relaxed) as u64;
        let now = self.stamp(self.dropped.load(Ordering::Relaxed)) as u64;
        stamp != 0 && (now + EPOCH_STAMPS - stamp) % EPOCH_STAMPS < GHOST_EPOCHS
    }

    /// Sets whether the store is nearly full, and how many items it holds.
    pub(crate) fn set_fill(&self, nearly_full: bool, items: u64) {
        #[cfg(test)]
        let nearly_full = nearly_full || self.held_on_probation.load(Ordering::Relaxed);
        self.probation.store(nearly_full, Ordering::Relaxed);
        self.epoch_length.store((items / GHOST_EPOCHS).max(1), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-spread hash of `n`, as the store's hasher gives.
    fn h(n: u64) -> u64 {
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[test]
    fn reads_earn_reinsertions_up_to_three() {
        let policy = Policy::new(1 << 20);
        policy.on_write(h(1));
        assert!(!policy.take_reinsertion(h(1)), "never read");
        for _ in 0..10 {
            policy.on_read(h(1));
        }
        assert!((0..3).all(|_| policy.take_reinsertion(h(1))));
        assert!(!policy.take_reinsertion(h(1)), "three reads at most");
        policy.on_read(h(1));
        policy.on_write(h(1));
        assert!(!policy.take_reinsertion(h(1)), "a write starts over");
    }

    #[test]
    fn probation_drops_unread_newcomers_only_when_nearly_full_and_the_ghost_admits_their_return() {
        let policy = Policy::new(1 << 30);
        policy.on_write(h(1));
        policy.on_write(h(2));
        policy.on_read(h(2));
        assert!(!policy.drops_on_probation(h(1)), "not full yet");
        policy.set_fill(true, 1000);
        assert!(policy.drops_on_probation(h(1)));
        assert!(!policy.drops_on_probation(h(2)), "read");
        policy.on_dropped(h(1));
        policy.on_write(h(1));
        assert!(!policy.drops_on_probation(h(1)), "wanted back: admitted");
        // After four epochs of other drops (250 each), the ghost forgets.
        (0..1000).for_each(|n| policy.on_dropped(h(1_000_000 + n)));
        policy.on_write(h(1));
        assert!(policy.drops_on_probation(h(1)));
    }

    #[test]
    fn a_reinserted_item_is_past_probation() {
        let policy = Policy::new(1 << 20);
        policy.set_fill(true, 1000);
        policy.on_write(h(5));
        policy.on_read(h(5));
        assert!(policy.take_reinsertion(h(5)));
        assert!(!policy.drops_on_probation(h(5)));
    }
}
