//! Reading and rendering the metrics of a Petrel server.
//!
//! Metrics are declared next to the code that moves them, as
//! [metriken](https://docs.rs/metriken) statics:
//!
//! ```
//! use metriken::{metric, Counter};
//!
//! #[metric(name = "widgets_made", description = "widgets made since start")]
//! static WIDGETS_MADE: Counter = Counter::new();
//!
//! WIDGETS_MADE.increment();
//! let mut out = Vec::new();
//! petrel_metrics::write_stats(&mut out);
//! assert!(String::from_utf8(out).unwrap().contains("STAT widgets_made 1\r\n"));
//! ```
//!
//! This crate reads every registered metric ([`snapshot`]) and renders the
//! readings in two forms with the same names: memcached `STAT name value`
//! lines ([`write_stats`]) and the Prometheus text format
//! ([`write_prometheus`]). A histogram becomes its percentiles
//! ([`PERCENTILES`]): `name_p50`, `name_p99`, … in `stats`, and a summary with
//! `quantile` labels in Prometheus.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use metriken::Value;

mod connections;
mod latency;

pub use connections::{ConnectionEntry, ConnectionState, ConnectionTable};
pub use latency::{LatencyHistogram, LatencyShard, Timer};

/// The percentiles a histogram is reported at, with their suffixes.
pub const PERCENTILES: [(&str, f64); 5] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)];

/// One metric read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The metric's registered name.
    pub name: String,
    /// Its description, if it has one.
    pub description: Option<String>,
    /// Its value.
    pub value: ReadingValue,
}

/// The value of a [`Reading`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReadingValue {
    /// A monotonic count.
    Counter(u64),
    /// A level that goes up and down.
    Gauge(i64),
    /// Upper bounds of the buckets holding each of [`PERCENTILES`], in the
    /// histogram's unit; empty while nothing has been recorded.
    Percentiles(Vec<u64>),
}

/// Reads every registered metric, sorted by name so output is stable.
pub fn snapshot() -> Vec<Reading> {
    let metrics = metriken::metrics();
    let mut readings: Vec<Reading> = metrics
        .iter()
        .filter_map(|entry| {
            let value = match entry.value()? {
                Value::Counter(value) => ReadingValue::Counter(value),
                Value::Gauge(value) => ReadingValue::Gauge(value),
                Value::Histogram(histogram) => {
                    ReadingValue::Percentiles(histogram.load().map(|h| percentiles(&h)).unwrap_or_default())
                }
                _ => return None,
            };
            Some(Reading {
                name: entry.name().to_string(),
                description: entry.description().map(str::to_string),
                value,
            })
        })
        .collect();
    readings.sort_by(|a, b| a.name.cmp(&b.name));
    readings
}

fn percentiles(histogram: &metriken::histogram::Histogram) -> Vec<u64> {
    PERCENTILES
        .iter()
        .map(|(_, quantile)| match histogram.quantile_bucket(*quantile) {
            Ok(Some(bucket)) => bucket.end(),
            _ => 0,
        })
        .collect()
}

/// The current value of the counter or gauge named `name`, if registered.
pub fn value_of(name: &str) -> Option<i128> {
    snapshot().into_iter().find(|reading| reading.name == name).and_then(|reading| match reading.value {
        ReadingValue::Counter(value) => Some(value.into()),
        ReadingValue::Gauge(value) => Some(value.into()),
        ReadingValue::Percentiles(_) => None,
    })
}

/// Counter values at the last [`reset_stats`], by name.
static BASELINE: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// memcached's `stats reset`: from now on [`write_stats`] reports each
/// counter's count since this moment. Only the `stats` view starts again:
/// the counters themselves, and so [`write_prometheus`], stay cumulative,
/// so that a scraper's rates stay right whoever resets.
pub fn reset_stats() {
    let counters = snapshot().into_iter().filter_map(|reading| match reading.value {
        ReadingValue::Counter(value) => Some((reading.name, value)),
        _ => None,
    });
    *BASELINE.lock().unwrap_or_else(|e| e.into_inner()) = counters.collect();
}

/// Appends every metric as memcached `STAT name value\r\n` lines, counters
/// counted since the last [`reset_stats`].
pub fn write_stats(out: &mut Vec<u8>) {
    let baseline = BASELINE.lock().unwrap_or_else(|e| e.into_inner());
    for reading in snapshot() {
        match &reading.value {
            ReadingValue::Counter(value) => {
                let since = value.saturating_sub(baseline.get(&reading.name).copied().unwrap_or(0));
                stat_line(out, &reading.name, since)
            }
            ReadingValue::Gauge(value) => stat_line(out, &reading.name, value),
            ReadingValue::Percentiles(values) => {
                for ((suffix, _), value) in PERCENTILES.iter().zip(padded(values)) {
                    stat_line(out, &format!("{}_{suffix}", reading.name), value);
                }
            }
        }
    }
}

/// Appends one `STAT name value\r\n` line.
pub fn stat_line(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "STAT {name} {value}\r\n");
}

/// Appends every metric in the Prometheus text exposition format (0.0.4).
pub fn write_prometheus(out: &mut Vec<u8>) {
    for reading in snapshot() {
        let name = &reading.name;
        if let Some(help) = &reading.description {
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\n', " "));
        }
        let _ = match &reading.value {
            ReadingValue::Counter(value) => writeln!(out, "# TYPE {name} counter\n{name} {value}"),
            ReadingValue::Gauge(value) => writeln!(out, "# TYPE {name} gauge\n{name} {value}"),
            ReadingValue::Percentiles(values) => {
                let _ = writeln!(out, "# TYPE {name} summary");
                for ((_, quantile), value) in PERCENTILES.iter().zip(padded(values)) {
                    let _ = writeln!(out, "{name}{{quantile=\"{quantile}\"}} {value}");
                }
                Ok(())
            }
        };
    }
}

/// What a server reports about itself at the top of `stats`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Name and version, such as `petrel-memcache 0.1.0`.
    pub version: String,
    /// Worker threads.
    pub threads: usize,
    /// When the server started.
    pub started: Instant,
    /// What `stats settings` lists, by memcached's names (`maxbytes`,
    /// `tcpport`, ...), as the server was configured.
    pub settings: Vec<(&'static str, String)>,
    /// The port the server listens on, once bound: `tcpport` then gives it
    /// rather than the configured one, which may be 0 (any free port).
    pub bound_port: OnceLock<u16>,
    /// The server's connections, once it listens: `stats conns`.
    pub connections: OnceLock<std::sync::Arc<ConnectionTable>>,
}

impl ServerInfo {
    /// A server starting now.
    pub fn new(version: impl Into<String>, threads: usize) -> Self {
        Self {
            version: version.into(),
            threads,
            started: Instant::now(),
            settings: Vec::new(),
            bound_port: OnceLock::new(),
            connections: OnceLock::new(),
        }
    }

    /// Adds a setting for `stats settings`.
    pub fn with_setting(mut self, name: &'static str, value: impl std::fmt::Display) -> Self {
        self.settings.push((name, value.to_string()));
        self
    }

    /// Appends `num_threads` and the settings, as `stats settings` lines.
    pub fn write_settings(&self, out: &mut Vec<u8>) {
        stat_line(out, "num_threads", self.threads);
        for (name, value) in &self.settings {
            match (*name, self.bound_port.get()) {
                ("tcpport", Some(port)) => stat_line(out, name, port),
                _ => stat_line(out, name, value),
            }
        }
    }

    /// Appends `pid`, `uptime`, `time`, `version` and `threads`, as memcached
    /// starts its `stats`. The version is one word, its spaces turned into
    /// `-` (`petrel-memcache-0.1.0`): clients such as libmemcached read a
    /// stat's value up to the first space.
    pub fn write_stats(&self, out: &mut Vec<u8>) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        stat_line(out, "pid", std::process::id());
        stat_line(out, "uptime", self.started.elapsed().as_secs());
        stat_line(out, "time", now.as_secs());
        stat_line(out, "version", self.version.replace(' ', "-"));
        stat_line(out, "threads", self.threads);
    }
}

/// Percentile values, zeros while the histogram is empty.
fn padded(values: &[u64]) -> impl Iterator<Item = u64> + '_ {
    values.iter().copied().chain(std::iter::repeat(0)).take(PERCENTILES.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use metriken::{Counter, Gauge, metric};

    #[metric(name = "test_counter", description = "a counter for tests")]
    static TEST_COUNTER: Counter = Counter::new();

    #[metric(name = "test_gauge")]
    static TEST_GAUGE: Gauge = Gauge::new();

    #[metric(name = "test_latency", description = "a histogram for tests")]
    static TEST_LATENCY: LatencyHistogram = LatencyHistogram::new();

    fn text(write: fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_counters_gauges_and_histograms_under_one_name() {
        TEST_COUNTER.add(3);
        TEST_GAUGE.set(-2);
        let shard = TEST_LATENCY.shard();
        for nanos in 1..=1000 {
            shard.histogram().increment(nanos).unwrap();
        }

        let stats = text(write_stats);
        assert!(stats.contains("STAT test_counter 3\r\n"), "{stats}");
        assert!(stats.contains("STAT test_gauge -2\r\n"), "{stats}");
        let p50 = stats.lines().find(|l| l.starts_with("STAT test_latency_p50 ")).unwrap();
        let p50: u64 = p50.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((495..=510).contains(&p50), "p50 {p50}");
        assert!(
            stats.contains("STAT test_latency_max 1000\r\n")
                || stats.contains("STAT test_latency_max 1003\r\n"),
            "{stats}"
        );

        let prometheus = text(write_prometheus);
        assert!(prometheus.contains(
            "# HELP test_counter a counter for tests\n# TYPE test_counter counter\ntest_counter 3\n"
        ));
        assert!(prometheus.contains("# TYPE test_gauge gauge\ntest_gauge -2\n"));
        assert!(prometheus.contains("# TYPE test_latency summary\ntest_latency{quantile=\"0.5\"} "));

        assert_eq!(value_of("test_counter"), Some(3));
        assert_eq!(value_of("no_such_metric"), None);

        // `stats reset` starts the stats view again; Prometheus stays cumulative.
        reset_stats();
        TEST_COUNTER.add(2);
        assert!(text(write_stats).contains("STAT test_counter 2\r\n"));
        assert!(text(write_prometheus).contains("\ntest_counter 5\n"));
        assert!(text(write_stats).contains("STAT test_gauge -2\r\n"), "gauges are levels, not reset");
    }
}
