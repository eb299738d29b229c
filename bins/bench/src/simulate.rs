//! Reference eviction policies at a byte capacity, simulated exactly on a
//! key stream, so that every hit ratio the server reaches is paired with
//! what LRU, FIFO, CLOCK and S3-FIFO reach on the same stream and bytes.
//!
//! Cache-aside, as the client does it: a get; on a miss, a set of the key.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// An eviction policy over items of known sizes.
pub(crate) trait Policy {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    /// Looks `key` up: whether it is cached. A hit may update the policy.
    fn get(&mut self, key: u64) -> bool;
    /// Caches `key`, of `size` bytes, after a miss, evicting what the policy
    /// chooses until the items fit the capacity.
    fn insert(&mut self, key: u64, size: u64);
}

/// Hit ratio of `policy` over the requests of `stream` from `measured_from`
/// on, every item `size` bytes.
pub(crate) fn hit_ratio(
    policy: &mut dyn Policy,
    stream: impl Iterator<Item = u64>,
    size: u64,
    measured_from: usize,
) -> f64 {
    let (mut hits, mut measured) = (0u64, 0u64);
    for (index, key) in stream.enumerate() {
        let hit = policy.get(key);
        if !hit {
            policy.insert(key, size);
        }
        if index >= measured_from {
            measured += 1;
            hits += hit as u64;
        }
    }
    hits as f64 / measured.max(1) as f64
}

/// How many requests of `stream` (cache-aside) it takes `policy` to set
/// `bytes` of items of `size` bytes; `None` if the stream ends first.
pub(crate) fn filled_after(
    policy: &mut dyn Policy,
    stream: impl Iterator<Item = u64>,
    size: u64,
    bytes: u64,
) -> Option<usize> {
    let mut set = 0;
    for (index, key) in stream.enumerate() {
        if !policy.get(key) {
            policy.insert(key, size);
            set += size;
            if set >= bytes {
                return Some(index + 1);
            }
        }
    }
    None
}

/// Least recently used, exactly: each access moves the item to the front.
pub(crate) struct Lru {
    capacity: u64,
    used: u64,
    clock: u64,
    items: HashMap<u64, (u64, u64)>,
    by_use: BTreeMap<u64, u64>,
}

impl Lru {
    pub(crate) fn new(capacity: u64) -> Self {
        Self { capacity, used: 0, clock: 0, items: HashMap::new(), by_use: BTreeMap::new() }
    }
}

impl Policy for Lru {
    fn name(&self) -> &'static str {
        "LRU"
    }

    fn get(&mut self, key: u64) -> bool {
        let Some((last_use, _)) = self.items.get_mut(&key) else { return false };
        self.by_use.remove(last_use);
        self.clock += 1;
        *last_use = self.clock;
        self.by_use.insert(self.clock, key);
        true
    }

    fn insert(&mut self, key: u64, size: u64) {
        self.clock += 1;
        self.items.insert(key, (self.clock, size));
        self.by_use.insert(self.clock, key);
        self.used += size;
        while self.used > self.capacity {
            let (_, oldest) = self.by_use.pop_first().expect("items while over capacity");
            let (_, size) = self.items.remove(&oldest).expect("indexed item");
            self.used -= size;
        }
    }
}

/// First in, first out, whatever was read: what dropping the oldest file
/// whole amounts to.
pub(crate) struct Fifo {
    capacity: u64,
    used: u64,
    queue: VecDeque<(u64, u64)>,
    cached: HashSet<u64>,
}

impl Fifo {
    pub(crate) fn new(capacity: u64) -> Self {
        Self { capacity, used: 0, queue: VecDeque::new(), cached: HashSet::new() }
    }
}

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        "FIFO"
    }

    fn get(&mut self, key: u64) -> bool {
        self.cached.contains(&key)
    }

    fn insert(&mut self, key: u64, size: u64) {
        self.queue.push_back((key, size));
        self.cached.insert(key);
        self.used += size;
        while self.used > self.capacity {
            let (oldest, size) = self.queue.pop_front().expect("items while over capacity");
            self.cached.remove(&oldest);
            self.used -= size;
        }
    }
}

/// CLOCK: a FIFO whose items read since they reached the front go round
/// again (a second chance) instead of leaving.
pub(crate) struct Clock {
    capacity: u64,
    used: u64,
    ring: VecDeque<(u64, u64)>,
    referenced: HashMap<u64, bool>,
}

impl Clock {
    pub(crate) fn new(capacity: u64) -> Self {
        Self { capacity, used: 0, ring: VecDeque::new(), referenced: HashMap::new() }
    }
}

impl Policy for Clock {
    fn name(&self) -> &'static str {
        "CLOCK"
    }

    fn get(&mut self, key: u64) -> bool {
        let Some(referenced) = self.referenced.get_mut(&key) else { return false };
        *referenced = true;
        true
    }

    fn insert(&mut self, key: u64, size: u64) {
        self.ring.push_back((key, size));
        self.referenced.insert(key, false);
        self.used += size;
        while self.used > self.capacity {
            let (oldest, size) = self.ring.pop_front().expect("items while over capacity");
            let referenced = self.referenced.get_mut(&oldest).expect("indexed item");
            if std::mem::take(referenced) {
                self.ring.push_back((oldest, size));
            } else {
                self.referenced.remove(&oldest);
                self.used -= size;
            }
        }
    }
}

/// S3-FIFO (Yang et al., SOSP 2023): new items wait in a small FIFO (a
/// tenth of the bytes); those read there move to the main FIFO, the others
/// leave and are remembered in a ghost FIFO of keys, so that their return
/// goes straight to main. Main gives items read since their last pass (up
/// to 3 reads) another pass.
pub(crate) struct S3Fifo {
    small_capacity: u64,
    capacity: u64,
    small_used: u64,
    main_used: u64,
    small: VecDeque<(u64, u64)>,
    main: VecDeque<(u64, u64)>,
    ghost: VecDeque<u64>,
    ghosts: HashSet<u64>,
    reads: HashMap<u64, u8>,
}

impl S3Fifo {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            small_capacity: capacity / 10,
            capacity,
            small_used: 0,
            main_used: 0,
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
            ghosts: HashSet::new(),
            reads: HashMap::new(),
        }
    }

    fn evict(&mut self) {
        if self.small_used > self.small_capacity || self.main.is_empty() {
            let (key, size) = self.small.pop_front().expect("items while over capacity");
            self.small_used -= size;
            if self.reads[&key] > 0 {
                self.reads.insert(key, 0);
                self.main.push_back((key, size));
                self.main_used += size;
            } else {
                self.reads.remove(&key);
                self.remember(key);
            }
        } else {
            let (key, size) = self.main.pop_front().expect("items while over capacity");
            let reads = self.reads.get_mut(&key).expect("indexed item");
            if *reads > 0 {
                *reads -= 1;
                self.main.push_back((key, size));
            } else {
                self.reads.remove(&key);
                self.main_used -= size;
            }
        }
    }

    /// Keeps `key` in the ghost FIFO, as many keys as main holds items.
    fn remember(&mut self, key: u64) {
        self.ghost.push_back(key);
        self.ghosts.insert(key);
        while self.ghost.len() > self.main.len().max(1) {
            let forgotten = self.ghost.pop_front().expect("ghosts");
            self.ghosts.remove(&forgotten);
        }
    }
}

impl Policy for S3Fifo {
    fn name(&self) -> &'static str {
        "S3-FIFO"
    }

    fn get(&mut self, key: u64) -> bool {
        let Some(reads) = self.reads.get_mut(&key) else { return false };
        *reads = (*reads + 1).min(3);
        true
    }

    fn insert(&mut self, key: u64, size: u64) {
        self.reads.insert(key, 0);
        if self.ghosts.remove(&key) {
            self.main.push_back((key, size));
            self.main_used += size;
        } else {
            self.small.push_back((key, size));
            self.small_used += size;
        }
        while self.small_used + self.main_used > self.capacity {
            self.evict();
        }
    }
}

/// Every reference policy, at `capacity` bytes.
pub(crate) fn policies(capacity: u64) -> Vec<Box<dyn Policy>> {
    vec![
        Box::new(Lru::new(capacity)),
        Box::new(Fifo::new(capacity)),
        Box::new(Clock::new(capacity)),
        Box::new(S3Fifo::new(capacity)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_stream::{KeyStream, StreamShape};
    use crate::workload::KeyDistribution;

    /// Sends `keys` (a = 0, b = 1, ...) to `policy`, two items' room.
    fn cached_after(mut policy: impl Policy, keys: &str) -> Vec<u64> {
        for key in keys.bytes().map(|byte| (byte - b'a') as u64) {
            if !policy.get(key) {
                policy.insert(key, 10);
            }
        }
        (0..26).filter(|&key| policy.get(key)).collect()
    }

    #[test]
    fn each_policy_evicts_its_own_victim() {
        // a, b, a read again, then c: who leaves for c?
        assert_eq!(cached_after(Lru::new(20), "abac"), [0, 2], "LRU keeps the read a");
        assert_eq!(cached_after(Fifo::new(20), "abac"), [1, 2], "FIFO drops the oldest, a");
        assert_eq!(cached_after(Clock::new(20), "abac"), [0, 2], "CLOCK gives the read a a second chance");
    }

    #[test]
    fn a_policy_is_filled_after_it_set_the_bytes_asked() {
        // Room for two items of 10 bytes; a, b, a hit, c, then d: the
        // fourth set (40 bytes, two laps) is d, the fifth request.
        let keys = || "abacd".bytes().map(|byte| (byte - b'a') as u64);
        assert_eq!(filled_after(&mut Lru::new(20), keys(), 10, 40), Some(5));
        assert_eq!(filled_after(&mut Lru::new(20), keys(), 10, 30), Some(4));
        assert_eq!(filled_after(&mut Lru::new(20), keys(), 10, 50), None, "the stream ends first");
    }

    #[test]
    fn s3_fifo_sends_unread_newcomers_away_first() {
        // Room for ten; the small queue holds one. a..h read twice fill
        // main; a stream of one-time keys then passes through small alone.
        let mut policy = S3Fifo::new(100);
        for _ in 0..3 {
            for key in 0..8 {
                if !policy.get(key) {
                    policy.insert(key, 10);
                }
            }
        }
        for wonder in 100..200 {
            assert!(!policy.get(wonder));
            policy.insert(wonder, 10);
        }
        assert!((0..8).all(|key| policy.get(key)), "the read items outlived 100 one-time keys");
    }

    #[test]
    fn on_zipf_lru_beats_fifo_and_the_second_chance_policies_match_it() {
        let shape = StreamShape {
            distribution: KeyDistribution::Zipf,
            zipf_exponent: 0.99,
            keys: 10_000,
            one_hit_share: 0.0,
            scan_every: 0,
            scan_length: 0,
        };
        let ratios: Vec<f64> = policies(2_500 * 100)
            .iter_mut()
            .map(|policy| hit_ratio(policy.as_mut(), KeyStream::new(shape, 1).take(200_000), 100, 100_000))
            .collect();
        let [lru, fifo, clock, s3] = ratios[..] else { unreachable!() };
        assert!(lru > fifo + 0.02, "LRU {lru:.3} against FIFO {fifo:.3}");
        assert!(clock > fifo && s3 > fifo, "CLOCK {clock:.3}, S3-FIFO {s3:.3}, FIFO {fifo:.3}");
    }
}
