//! What to send: keys, values and the mix of requests.

use std::io::Write;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::Args;

/// How keys are picked.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum, serde::Serialize)]
pub(crate) enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// A few keys much more likely (exponent `--zipf-exponent`).
    Zipf,
}

/// The requests of one load, drawn from a seeded generator so runs repeat.
pub(crate) struct Workload {
    rng: SmallRng,
    zipf: Option<Zipf<f64>>,
    keys: u64,
    key_size: usize,
    value_size: usize,
    values: Values,
    get_ratio: f64,
    multiget: usize,
}

/// One request to make.
pub(crate) enum Operation {
    /// Get these key indexes.
    Get(Vec<u64>),
    /// Set this key index.
    Set(u64),
}

impl Workload {
    /// The workload of one connection; `seed` makes connections differ.
    pub(crate) fn new(args: &Args, seed: u64) -> Self {
        let zipf = match args.distribution {
            KeyDistribution::Uniform => None,
            KeyDistribution::Zipf => {
                Some(Zipf::new(args.keys as f64, args.zipf_exponent).expect("valid zipf"))
            }
        };
        Self {
            rng: SmallRng::seed_from_u64(seed),
            zipf,
            keys: args.keys,
            key_size: args.key_size,
            value_size: args.value_size,
            values: Values::of(args),
            get_ratio: args.get_ratio,
            multiget: args.multiget,
        }
    }

    fn key_index(&mut self) -> u64 {
        match &self.zipf {
            Some(zipf) => (zipf.sample(&mut self.rng) as u64).saturating_sub(1).min(self.keys - 1),
            None => self.rng.random_range(0..self.keys),
        }
    }

    /// The next request.
    pub(crate) fn next(&mut self) -> Operation {
        if self.rng.random::<f64>() < self.get_ratio {
            Operation::Get((0..self.multiget).map(|_| self.key_index()).collect())
        } else {
            Operation::Set(self.key_index())
        }
    }

    /// Appends key `index` (`key_size` bytes, at least enough for the digits).
    pub(crate) fn key(&self, index: u64, out: &mut Vec<u8>) {
        key(index, self.key_size, out);
    }

    /// Appends the value stored under key `index`.
    pub(crate) fn value(&self, index: u64, out: &mut Vec<u8>) {
        self.values.write(index, self.value_size, out);
    }

    /// Appends the rest of a `set` line after the key: ` 0 0 <size>\r\n`.
    pub(crate) fn set_header_tail(&self, out: &mut Vec<u8>) {
        let _ = write!(out, " 0 0 {}\r\n", self.value_size);
    }
}

/// Key `index`: `k` then the zero-padded index, `size` bytes long. Written
/// straight into `out`: the generator allocates nothing per request.
pub(crate) fn key(index: u64, size: usize, out: &mut Vec<u8>) {
    let digits = size.saturating_sub(1).max(1);
    out.push(b'k');
    let _ = write!(out, "{index:0digits$}");
}

/// What values are made of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Values {
    /// [`value`]: the key index, then filler.
    Filler,
    /// [`incompressible_value`] (`--incompressible`).
    Incompressible,
}

impl Values {
    /// The values of a run with `args`.
    pub(crate) fn of(args: &Args) -> Self {
        if args.incompressible { Self::Incompressible } else { Self::Filler }
    }

    /// Appends the value of key `index`, `size` bytes long.
    pub(crate) fn write(self, index: u64, size: usize, out: &mut Vec<u8>) {
        match self {
            Self::Filler => value(index, size, out),
            Self::Incompressible => incompressible_value(index, size, out),
        }
    }
}

/// The value of key `index`: its index, then filler, `size` bytes long, so a
/// reply can be checked against the key it answers.
pub(crate) fn value(index: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "{index:020}");
    out.resize(start + size, b'.');
    out.truncate(start + size);
}

/// The value of key `index` as bytes no compressor shrinks: its index, then
/// a pseudo-random stream seeded by it, `size` bytes long. For runs where
/// what the store holds in its bytes matters (eviction), since the filler
/// of [`value`] compresses to almost nothing on disk.
pub(crate) fn incompressible_value(index: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = write!(out, "{index:020}");
    // SplitMix64 from a mixed seed: the streams of neighbouring keys do not
    // overlap (from a seed of index × γ they would, shifted by one word,
    // and neighbours share a table block, where LZ4 finds the repeat).
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut state = mix(index ^ 0x5851_f42d_4c95_7f2d);
    while out.len() < start + size {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        out.extend_from_slice(&mix(state).to_le_bytes());
    }
    out.truncate(start + size);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incompressible_values_are_the_keys_own_and_vary() {
        let (mut first, mut again, mut other) = (Vec::new(), Vec::new(), Vec::new());
        incompressible_value(42, 1000, &mut first);
        incompressible_value(42, 1000, &mut again);
        incompressible_value(43, 1000, &mut other);
        assert_eq!((first.len(), &first[..20]), (1000, &b"00000000000000000042"[..]));
        assert_eq!(first, again);
        assert_ne!(first[20..], other[20..]);
        // Neighbours' streams do not overlap, shifted or not.
        assert!(!other.windows(16).any(|window| first[20..].windows(16).any(|mine| mine == window)));
        // No byte value dominates, as it would in compressible filler.
        let mut counts = [0u32; 256];
        first[20..].iter().for_each(|&byte| counts[byte as usize] += 1);
        assert!(counts.iter().all(|&count| count < 20), "{counts:?}");
    }
}
