//! A model of petrel-memcache's store as a log (memtable, flushed files,
//! merges of the newest files, the oldest file dropped whole once the files
//! exceed the capacity), to weigh eviction designs on the cache-aside
//! streams before building them: reinsertion of items read near the log's
//! end, reinsertion at drop of the items read since written (CLOCK over
//! files, what the store now does), and probation (items unread since
//! written dropped when their file is merged, remembered in a ghost FIFO so
//! that their return is kept), and merges left undone when they would drop
//! little.
//! docs/performance.md ("Eviction: the baseline, measured with the cache-aside harness" and "Eviction measured warm, copies that were refused, merges worth their writes") gives what it found.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::simulate::Policy;

/// The store's sizes and the design under test.
#[derive(Clone, Copy)]
pub(crate) struct LogShape {
    /// Bytes of files kept.
    pub(crate) capacity: u64,
    /// Bytes of one memtable: a flush writes a file of about this size.
    pub(crate) memtable: u64,
    /// Unmerged newest files that trigger a merge ...
    pub(crate) merge_trigger: usize,
    /// ... when they hold at most this many bytes.
    pub(crate) largest_merge: u64,
    /// Reinsert an item read when more than this share of the capacity has
    /// been written after it; above 1: never.
    pub(crate) reinsert_after: f64,
    /// Drop items unread since written when their file is merged.
    pub(crate) probation: bool,
    /// Before the oldest file is dropped, write again its items read since
    /// they were last written (CLOCK over files), and merge the newest
    /// files after a drop too.
    pub(crate) reinsert_at_drop: bool,
    /// Merge a run only if this share of its entries would go (older
    /// versions, and newcomers on probation); else leave its files as
    /// they are (0: always merge).
    pub(crate) min_drop_share: f64,
}

/// The current version of a key.
struct Entry {
    version: u64,
    offset: u64,
    read: bool,
    /// Reads since written, up to 3.
    frequency: u8,
    admitted: bool,
    size: u64,
}

/// A flushed or merged file: (key, version, bytes) entries.
struct File {
    entries: Vec<(u64, u64, u64)>,
    bytes: u64,
    merged: bool,
}

/// The model; see the module docs.
pub(crate) struct LogCache {
    shape: LogShape,
    memtable: Vec<(u64, u64, u64)>,
    memtable_bytes: u64,
    files: VecDeque<File>,
    disk: u64,
    current: HashMap<u64, Entry>,
    written: u64,
    next_version: u64,
    ghost: VecDeque<u64>,
    ghosts: HashSet<u64>,
    /// Items written again because they were read near the end.
    pub(crate) reinserted: u64,
    /// Items dropped unread by a merge.
    pub(crate) dropped_on_probation: u64,
}

impl LogCache {
    pub(crate) fn new(shape: LogShape) -> Self {
        Self {
            shape,
            memtable: Vec::new(),
            memtable_bytes: 0,
            files: VecDeque::new(),
            disk: 0,
            current: HashMap::new(),
            written: 0,
            next_version: 0,
            ghost: VecDeque::new(),
            ghosts: HashSet::new(),
            reinserted: 0,
            dropped_on_probation: 0,
        }
    }

    fn write(&mut self, key: u64, size: u64, admitted: bool) {
        self.next_version += 1;
        self.written += size;
        self.current.insert(
            key,
            Entry {
                version: self.next_version,
                offset: self.written,
                read: false,
                frequency: 0,
                admitted,
                size,
            },
        );
        self.memtable.push((key, self.next_version, size));
        self.memtable_bytes += size;
        if self.memtable_bytes >= self.shape.memtable {
            self.flush();
        }
    }

    fn is_current(&self, key: u64, version: u64) -> bool {
        self.current.get(&key).is_some_and(|entry| entry.version == version)
    }

    fn flush(&mut self) {
        let entries: Vec<_> = std::mem::take(&mut self.memtable)
            .into_iter()
            .filter(|&(k, v, _)| self.is_current(k, v))
            .collect();
        let bytes = entries.iter().map(|e| e.2).sum();
        self.memtable_bytes = 0;
        self.files.push_back(File { entries, bytes, merged: false });
        self.disk += bytes;
        if self.disk > self.shape.capacity {
            let mut again = Vec::new();
            while self.disk > self.shape.capacity {
                let oldest = self.files.pop_front().expect("files");
                self.disk -= oldest.bytes;
                for (key, version, size) in oldest.entries {
                    if !self.is_current(key, version) {
                        continue;
                    }
                    let entry = self.current.get_mut(&key).expect("current");
                    if self.shape.reinsert_at_drop && entry.frequency > 0 {
                        again.push((key, size, entry.frequency - 1));
                    } else {
                        self.current.remove(&key);
                    }
                }
            }
            for (key, size, frequency) in again {
                self.reinserted += 1;
                self.write(key, size, true);
                self.current.get_mut(&key).expect("written").frequency = frequency;
            }
            if !self.shape.reinsert_at_drop {
                return;
            }
        }
        let run = self.files.iter().rev().take_while(|file| !file.merged).count();
        let run_bytes: u64 = self.files.iter().rev().take(run).map(|f| f.bytes).sum();
        if run >= self.shape.merge_trigger && run_bytes <= self.shape.largest_merge {
            self.merge(run);
        }
    }

    fn merge(&mut self, run: usize) {
        let full = self.disk + self.shape.memtable * self.shape.merge_trigger as u64 >= self.shape.capacity;
        if self.shape.min_drop_share > 0.0 && self.drop_share(run, full) < self.shape.min_drop_share {
            let newest = self.files.len();
            for file in self.files.range_mut(newest - run..) {
                file.merged = true;
            }
            return;
        }
        let mut inputs = Vec::new();
        for _ in 0..run {
            let file = self.files.pop_back().expect("files");
            self.disk -= file.bytes;
            inputs.push(file);
        }
        let mut kept = Vec::new();
        for file in inputs.into_iter().rev() {
            for (key, version, size) in file.entries {
                if !self.is_current(key, version) {
                    continue;
                }
                let entry = self.current.get_mut(&key).expect("current");
                if self.shape.probation && full && !entry.read && !entry.admitted {
                    self.current.remove(&key);
                    self.dropped_on_probation += 1;
                    self.ghost.push_back(key);
                    self.ghosts.insert(key);
                    while self.ghost.len() > self.current.len().max(1) {
                        let forgotten = self.ghost.pop_front().expect("ghosts");
                        self.ghosts.remove(&forgotten);
                    }
                    continue;
                }
                kept.push((key, version, size));
            }
        }
        let bytes = kept.iter().map(|e| e.2).sum();
        self.disk += bytes;
        self.files.push_back(File { entries: kept, bytes, merged: true });
    }
}

impl LogCache {
    /// The share of the newest `run` files' entries a merge would drop.
    fn drop_share(&self, run: usize, full: bool) -> f64 {
        let newest = self.files.len();
        let (mut entries, mut dropped) = (0u64, 0u64);
        for &(key, version, _) in self.files.range(newest - run..).flat_map(|file| &file.entries) {
            entries += 1;
            let goes = match self.current.get(&key) {
                Some(entry) if entry.version == version => {
                    self.shape.probation && full && !entry.read && !entry.admitted
                }
                _ => true,
            };
            dropped += goes as u64;
        }
        dropped as f64 / entries.max(1) as f64
    }
}

impl Policy for LogCache {
    fn name(&self) -> &'static str {
        "log"
    }

    fn get(&mut self, key: u64) -> bool {
        let written = self.written;
        let threshold = (self.shape.reinsert_after * self.shape.capacity as f64) as u64;
        let Some(entry) = self.current.get_mut(&key) else { return false };
        entry.read = true;
        entry.frequency = (entry.frequency + 1).min(3);
        if written - entry.offset > threshold {
            let size = entry.size;
            self.reinserted += 1;
            self.write(key, size, true);
        }
        true
    }

    fn insert(&mut self, key: u64, size: u64) {
        let admitted = self.ghosts.remove(&key);
        self.write(key, size, admitted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_stream::{KeyStream, StreamShape};
    use crate::simulate::{hit_ratio, policies};
    use crate::workload::KeyDistribution;

    fn zipf(exponent: f64) -> StreamShape {
        StreamShape {
            distribution: KeyDistribution::Zipf,
            zipf_exponent: exponent,
            keys: 10_000,
            one_hit_share: 0.0,
            scan_every: 0,
            scan_length: 0,
        }
    }

    #[test]
    fn reinserting_items_read_near_the_end_beats_dropping_files_whole() {
        let capacity = 2_500 * 100;
        let model = |reinsert_after| {
            let shape = LogShape {
                capacity,
                memtable: capacity / 40,
                merge_trigger: 4,
                largest_merge: capacity / 8,
                reinsert_after,
                probation: false,
                reinsert_at_drop: false,
                min_drop_share: 0.0,
            };
            let mut model = LogCache::new(shape);
            let ratio = hit_ratio(&mut model, KeyStream::new(zipf(0.99), 1).take(200_000), 100, 100_000);
            (ratio, model.reinserted)
        };
        let fifo = hit_ratio(
            policies(capacity)[1].as_mut(),
            KeyStream::new(zipf(0.99), 1).take(200_000),
            100,
            100_000,
        );
        let (whole_files, none) = model(2.0);
        let (reinserting, reinserted) = model(0.5);
        assert_eq!(none, 0);
        assert!(
            (whole_files - fifo).abs() < 0.01,
            "dropping files whole is FIFO: {whole_files:.3} against {fifo:.3}"
        );
        assert!(reinserting > whole_files + 0.01, "{reinserting:.3} against {whole_files:.3}");
        assert!(reinserted > 0);
    }

    /// Prints the table of docs/performance.md, "Eviction: the baseline, measured with the cache-aside harness":
    /// `cargo test --release -p petrel-bench log_model -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints a table for docs/performance.md; takes a minute"]
    fn print_the_designs_on_the_eviction_loads() {
        let loads = [(0.8, 0.0, 0), (0.99, 0.0, 0), (1.2, 0.0, 0), (0.99, 0.2, 50_000)];
        let size = 16 + 1000 + 59;
        for capacity_mb in [10u64, 25] {
            let capacity = capacity_mb << 20;
            for (alpha, one_hit, scan) in loads {
                let shape = StreamShape {
                    distribution: KeyDistribution::Zipf,
                    zipf_exponent: alpha,
                    keys: 100_000,
                    one_hit_share: one_hit,
                    scan_every: scan,
                    scan_length: if scan > 0 { 5000 } else { 0 },
                };
                let stream = || KeyStream::new(shape, 1).take(600_000);
                let lru = hit_ratio(policies(capacity)[0].as_mut(), stream(), size, 300_000);
                let s3 = hit_ratio(policies(capacity)[3].as_mut(), stream(), size, 300_000);
                let mut line = format!(
                    "{capacity_mb} MiB a={alpha} oh={one_hit}: LRU {lru:.3} S3 {s3:.3} ({:.2})",
                    (1.0 - s3) / (1.0 - lru)
                );
                for (memtable_div, reinsert_after, probation, reinsert_at_drop, min_drop_share) in [
                    (40, 2.0, false, false, 0.0),
                    (40, 0.5, false, false, 0.0),
                    (40, 0.7, true, false, 0.0),
                    (40, 2.0, false, true, 0.0),
                    (40, 2.0, true, true, 0.0),
                    (80, 2.0, true, true, 0.0),
                    (20, 2.0, true, true, 0.0),
                    (64, 2.0, true, true, 0.0),
                    (64, 2.0, true, true, 0.4),
                ] {
                    let mut model = LogCache::new(LogShape {
                        capacity,
                        memtable: capacity / memtable_div,
                        merge_trigger: 4,
                        largest_merge: capacity / 8,
                        reinsert_after,
                        probation,
                        reinsert_at_drop,
                        min_drop_share,
                    });
                    let ratio = hit_ratio(&mut model, stream(), size, 300_000);
                    line += &format!(
                        " | m/{memtable_div} r{reinsert_after} p{} d{} s{min_drop_share} {ratio:.3} ({:.2}) ri={} pd={}",
                        probation as u8,
                        reinsert_at_drop as u8,
                        (1.0 - ratio) / (1.0 - lru),
                        model.reinserted,
                        model.dropped_on_probation
                    );
                }
                println!("{line}");
            }
        }
    }
}
