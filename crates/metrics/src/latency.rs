//! Latency histograms that no two workers write: each worker records into
//! a shard of its own, and a reading sums the shards.
//!
//! A shard lives as long as the process, so that a timer can hold it
//! without borrowing its worker; a worker that ends gives its shard back,
//! counts kept, for the next worker to take. Shards are as many as workers
//! ever ran at once.
//!
//! ```
//! use petrel_metrics::{LatencyHistogram, Timer};
//! use metriken::metric;
//!
//! #[metric(name = "widget_latency", description = "nanoseconds to make a widget")]
//! static WIDGET_LATENCY: LatencyHistogram = LatencyHistogram::new();
//!
//! // Once per worker, when it starts:
//! let shard = WIDGET_LATENCY.shard();
//! // Per request:
//! Timer::start(shard.histogram()).stop();
//! assert!(petrel_metrics::snapshot().iter().any(|reading| reading.name == "widget_latency"));
//! ```

use std::any::Any;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use histogram::{AtomicHistogram, Config, Histogram};
use metriken::{HistogramMetric, Metric, Value};

/// 2^7 buckets per power of two (under 1% relative error) ...
const GROUPING_POWER: u8 = 7;
/// ... up to 2^40 ns (18 minutes).
const MAX_VALUE_POWER: u8 = 40;

/// One part of a [`LatencyHistogram`], taken by one worker at a time.
struct Shard {
    counts: AtomicHistogram,
    taken: AtomicBool,
}

/// A worker's shard of a [`LatencyHistogram`]: only that worker writes it,
/// so a request's atomic add touches no line another core writes. Given
/// back, counts kept, when dropped.
pub struct LatencyShard(&'static Shard);

impl LatencyShard {
    /// The histogram to record into, for a [`Timer`].
    pub fn histogram(&self) -> &'static AtomicHistogram {
        &self.0.counts
    }
}

impl Drop for LatencyShard {
    fn drop(&mut self) {
        self.0.taken.store(false, Ordering::Release);
    }
}

/// A latency histogram in nanoseconds, sharded by worker. Register it as a
/// metriken static (`#[metric]`); `stats` and Prometheus report its
/// percentiles over every shard.
pub struct LatencyHistogram {
    /// Every shard made, taken or not.
    shards: RwLock<Vec<&'static Shard>>,
}

impl LatencyHistogram {
    /// An empty histogram, with no shards yet.
    pub const fn new() -> Self {
        Self { shards: RwLock::new(Vec::new()) }
    }

    /// A shard for one worker to record into, taken once, when the worker
    /// starts: one given back by a worker gone, or a new one.
    pub fn shard(&self) -> LatencyShard {
        let shards = self.shards.read().unwrap_or_else(|e| e.into_inner());
        let free = shards.iter().find(|shard| {
            shard.taken.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
        });
        if let Some(&shard) = free {
            return LatencyShard(shard);
        }
        drop(shards);
        let counts = AtomicHistogram::new(GROUPING_POWER, MAX_VALUE_POWER).expect("a valid histogram");
        let shard: &'static Shard = Box::leak(Box::new(Shard { counts, taken: AtomicBool::new(true) }));
        self.shards.write().unwrap_or_else(|e| e.into_inner()).push(shard);
        LatencyShard(shard)
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramMetric for LatencyHistogram {
    fn config(&self) -> Config {
        Config::new(GROUPING_POWER, MAX_VALUE_POWER).expect("a valid histogram")
    }

    /// The sum of the shards; `None` before any was taken.
    fn load(&self) -> Option<Histogram> {
        let shards = self.shards.read().unwrap_or_else(|e| e.into_inner());
        let mut shards = shards.iter().map(|shard| shard.counts.load());
        let first = shards.next()?;
        // Shards share one configuration, so adding them cannot fail.
        Some(shards.fold(first, |total, shard| total.wrapping_add(&shard).unwrap_or(total)))
    }
}

impl Metric for LatencyHistogram {
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Histogram(self))
    }
}

/// Measures how long something takes and records it, in nanoseconds, into a
/// latency shard when dropped or [`stop`](Self::stop)ped.
#[must_use = "a timer records when it is stopped or dropped"]
pub struct Timer<'a> {
    histogram: &'a AtomicHistogram,
    start: Instant,
}

impl<'a> Timer<'a> {
    /// Starts timing.
    pub fn start(histogram: &'a AtomicHistogram) -> Self {
        Self { histogram, start: Instant::now() }
    }

    /// Stops timing and records the duration.
    pub fn stop(self) {}
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        let nanos = self.start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        // A duration beyond the histogram's range is not worth failing over.
        let _ = self.histogram.increment(nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metriken::metric;

    #[metric(name = "test_sharded_latency")]
    static TEST_LATENCY: LatencyHistogram = LatencyHistogram::new();

    fn count(histogram: &Histogram) -> u64 {
        histogram.into_iter().map(|bucket| bucket.count()).sum()
    }

    #[test]
    fn a_reading_sums_every_shard_and_a_shard_given_back_is_taken_again() {
        assert!(HistogramMetric::load(&TEST_LATENCY).is_none(), "no shard yet");
        let first = TEST_LATENCY.shard();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let second = TEST_LATENCY.shard();
                for _ in 0..3 {
                    Timer::start(second.histogram()).stop();
                }
            });
        });
        first.histogram().increment(1_000_000).unwrap();
        let total = HistogramMetric::load(&TEST_LATENCY).unwrap();
        assert_eq!(count(&total), 4);
        // The second worker's shard, given back, is the third's, counts kept.
        let third = TEST_LATENCY.shard();
        assert_eq!(count(&third.histogram().load()), 3);
        assert_eq!(TEST_LATENCY.shards.read().unwrap().len(), 2);
        // The millisecond is the largest value recorded: the maximum's bucket holds it.
        let max = total.quantile_bucket(1.0).unwrap().unwrap();
        assert!(max.start() <= 1_000_000 && 1_000_000 <= max.end());
    }
}
