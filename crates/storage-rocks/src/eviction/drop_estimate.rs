//! How much of a group of flushed files a merge would drop, estimated from
//! the writes their journal records name (`merging.rs` decides with it).
//!
//! A merge drops every version of a key but the newest among its files,
//! and, on probation, the newest too if nobody read it (`policy.rs`). Both
//! show in the records: a key named again later in the group, and a key
//! whose read count is still nothing. Expired items do not show (records
//! carry no expiry time); they go when their file does, or with a merge
//! that runs for the rest.
//!
//! The records of a group can name millions of writes of small items, so
//! the estimate keeps a sample of keys, chosen by hash, of at most
//! [`MOST_SAMPLED_KEYS`]: every write of a sampled key is counted, so a
//! repeat is always seen as one.

use std::collections::HashMap;

/// Keys kept in the sample, at about 16 bytes each.
const MOST_SAMPLED_KEYS: usize = 1 << 16;

/// Writes of a sample of keys, by key hash.
pub(crate) struct DropEstimate {
    writes: HashMap<u64, u32>,
    /// A key is in the sample when its hash is at most this.
    sampled_below: u64,
}

impl Default for DropEstimate {
    fn default() -> Self {
        Self { writes: HashMap::new(), sampled_below: u64::MAX }
    }
}

impl DropEstimate {
    /// The group's records name a write of the key whose hash is `hash`.
    pub(crate) fn note(&mut self, hash: u64) {
        if hash > self.sampled_below {
            return;
        }
        *self.writes.entry(hash).or_default() += 1;
        if self.writes.len() > MOST_SAMPLED_KEYS {
            self.sampled_below /= 2;
            let sampled_below = self.sampled_below;
            self.writes.retain(|&hash, _| hash <= sampled_below);
        }
    }

    /// The share of the sampled writes a merge would drop: older versions,
    /// and every version of a key `drops_newest` says goes; `None` when
    /// no write was noted.
    pub(crate) fn share(&self, drops_newest: impl Fn(u64) -> bool) -> Option<f64> {
        let (mut named, mut dropped) = (0u64, 0u64);
        for (&hash, &writes) in &self.writes {
            named += u64::from(writes);
            dropped += u64::from(writes) - u64::from(!drops_newest(hash));
        }
        (named > 0).then(|| dropped as f64 / named as f64)
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
    fn older_versions_go_and_so_do_keys_on_their_way_out() {
        let mut estimate = DropEstimate::default();
        assert_eq!(estimate.share(|_| false), None, "nothing named");
        (0..4).for_each(|_| estimate.note(h(1)));
        (2..6).for_each(|n| estimate.note(h(n)));
        assert_eq!(estimate.share(|_| false), Some(3.0 / 8.0), "three versions of one key");
        assert_eq!(estimate.share(|hash| hash == h(1)), Some(4.0 / 8.0), "all of key 1");
        assert_eq!(estimate.share(|_| true), Some(1.0));
    }

    #[test]
    fn a_large_group_is_sampled_and_its_share_still_seen() {
        let mut estimate = DropEstimate::default();
        // A million keys, a quarter of them written twice.
        for n in 0..1_000_000u64 {
            estimate.note(h(n));
            if n % 4 == 0 {
                estimate.note(h(n));
            }
        }
        assert!(estimate.writes.len() <= MOST_SAMPLED_KEYS);
        let share = estimate.share(|_| false).unwrap();
        assert!((share - 0.2).abs() < 0.01, "{share}");
    }
}
