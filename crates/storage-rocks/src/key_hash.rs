//! A key's hash, computed once per operation, and what each part of it
//! picks: the lock stripe from the low bits, the eviction policy's slot
//! from bits 20 up, the item cache shard from the high 32. Apart, so that
//! keys sharing one rarely share another.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::stripes::STRIPES;

/// Hashes keys, with a seed of its own per store.
#[derive(Clone, Default)]
pub(crate) struct KeyHasher(RandomState);

impl KeyHasher {
    /// The hash of `key`.
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.0.hash_one(key)
    }
}

/// The lock stripe of a key hash.
pub(crate) fn stripe(hash: u64) -> usize {
    hash as usize % STRIPES
}

/// The eviction policy's slot of a key hash, in a table of `mask + 1`
/// slots (a power of two, at most 2^32).
pub(crate) fn slot(hash: u64, mask: u64) -> usize {
    (hash.rotate_right(20) & mask) as usize
}

/// The item cache shard of a key hash, among `shards`.
pub(crate) fn shard(hash: u64, shards: usize) -> usize {
    (hash >> 32) as usize % shards
}
