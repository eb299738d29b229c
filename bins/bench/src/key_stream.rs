//! The key streams of the cache-aside mode: which key each request asks
//! for, from a seeded generator, so that the server and the simulated
//! policies meet the very same stream.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::workload::KeyDistribution;

/// The shape of a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StreamShape {
    /// How the popular keys are picked.
    pub(crate) distribution: KeyDistribution,
    /// Exponent of the Zipf distribution.
    pub(crate) zipf_exponent: f64,
    /// Distinct popular keys.
    pub(crate) keys: u64,
    /// Share of requests for a key never asked for before nor after (a
    /// one-hit wonder), as in published production traces.
    pub(crate) one_hit_share: f64,
    /// Every this many requests, a scan (0: none)...
    pub(crate) scan_every: u64,
    /// ...of this many consecutive keys, from where the last one ended.
    pub(crate) scan_length: u64,
}

/// Key indexes, one per request. Popular keys are `0..keys`; one-hit
/// wonders come after them, each new.
pub(crate) struct KeyStream {
    shape: StreamShape,
    rng: SmallRng,
    zipf: Option<Zipf<f64>>,
    served: u64,
    next_wonder: u64,
    scan_left: u64,
    scan_at: u64,
}

impl KeyStream {
    pub(crate) fn new(shape: StreamShape, seed: u64) -> Self {
        let zipf = (shape.distribution == KeyDistribution::Zipf)
            .then(|| Zipf::new(shape.keys as f64, shape.zipf_exponent).expect("a valid Zipf distribution"));
        Self {
            shape,
            rng: SmallRng::seed_from_u64(seed),
            zipf,
            served: 0,
            next_wonder: shape.keys,
            scan_left: 0,
            scan_at: 0,
        }
    }
}

impl Iterator for KeyStream {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.served += 1;
        let shape = &self.shape;
        if shape.scan_every > 0 && self.served.is_multiple_of(shape.scan_every) {
            self.scan_left = shape.scan_length;
        }
        if self.scan_left > 0 {
            self.scan_left -= 1;
            self.scan_at = (self.scan_at + 1) % shape.keys;
            return Some(self.scan_at);
        }
        if shape.one_hit_share > 0.0 && self.rng.random::<f64>() < shape.one_hit_share {
            self.next_wonder += 1;
            return Some(self.next_wonder - 1);
        }
        Some(match &self.zipf {
            Some(zipf) => (zipf.sample(&mut self.rng) as u64).saturating_sub(1).min(shape.keys - 1),
            None => self.rng.random_range(0..shape.keys),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> StreamShape {
        StreamShape {
            distribution: KeyDistribution::Zipf,
            zipf_exponent: 0.99,
            keys: 1000,
            one_hit_share: 0.0,
            scan_every: 0,
            scan_length: 0,
        }
    }

    #[test]
    fn a_seed_gives_the_same_stream_every_time() {
        let first: Vec<u64> = KeyStream::new(shape(), 7).take(1000).collect();
        assert_eq!(first, KeyStream::new(shape(), 7).take(1000).collect::<Vec<_>>());
        assert_ne!(first, KeyStream::new(shape(), 8).take(1000).collect::<Vec<_>>());
    }

    #[test]
    fn zipf_favours_the_first_keys() {
        let stream: Vec<u64> = KeyStream::new(shape(), 1).take(100_000).collect();
        let top = stream.iter().filter(|&&key| key < 10).count();
        assert!(top > 30_000, "the top 1% of keys get {top} of 100,000 requests");
        assert!(stream.iter().all(|&key| key < 1000));
    }

    #[test]
    fn one_hit_wonders_are_each_asked_for_once() {
        let stream: Vec<u64> =
            KeyStream::new(StreamShape { one_hit_share: 0.3, ..shape() }, 1).take(10_000).collect();
        let wonders: Vec<u64> = stream.iter().copied().filter(|&key| key >= 1000).collect();
        assert!((2_500..3_500).contains(&wonders.len()), "{}", wonders.len());
        let distinct: std::collections::HashSet<u64> = wonders.iter().copied().collect();
        assert_eq!(distinct.len(), wonders.len());
    }

    #[test]
    fn scans_walk_consecutive_keys() {
        let scanning = StreamShape { scan_every: 100, scan_length: 50, ..shape() };
        let stream: Vec<u64> = KeyStream::new(scanning, 1).take(200).collect();
        assert_eq!(&stream[99..149], &(1..51).collect::<Vec<u64>>()[..]);
    }
}
