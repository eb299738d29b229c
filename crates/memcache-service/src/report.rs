//! What a store reports: its figures ([`StorageStats`], which the service
//! turns into memcached's stats) and the items it evicts, one by one, for
//! `watch evictions` ([`EvictionLog`]). A store reports; it never writes
//! the service's metrics or watchers itself.

use metriken::{Counter, Gauge, metric};

#[metric(name = "curr_items", description = "items stored now (an estimate for some backends)")]
static CURR_ITEMS: Gauge = Gauge::new();

#[metric(name = "bytes", description = "bytes of item data stored now")]
static BYTES: Gauge = Gauge::new();

#[metric(name = "evictions", description = "items evicted to stay within the configured capacity")]
static EVICTIONS: Counter = Counter::new();

/// A store's figures, from [`Storage::stats`](crate::Storage::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Items stored now (an estimate for some backends).
    pub items: u64,
    /// Bytes of item data stored now.
    pub bytes: u64,
    /// Items evicted to stay within capacity since the store opened.
    pub evictions: u64,
}

impl StorageStats {
    /// Sets the `curr_items`, `bytes` and `evictions` metrics, before stats
    /// are read.
    pub fn report(self) {
        CURR_ITEMS.set(self.items as i64);
        BYTES.set(self.bytes as i64);
        EVICTIONS.set(self.evictions);
    }
}

/// An evicted item, as `watch evictions` reports it.
#[derive(Debug, Clone, Copy)]
pub struct Eviction<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Whether it was ever read.
    pub fetched: bool,
    /// Seconds it had left to live; `None` for no expiry.
    pub ttl: Option<u64>,
    /// Seconds since it was last accessed.
    pub idle: u64,
    /// Bytes of its value.
    pub size: usize,
}

/// Where a store reports the items it evicts, one by one, for `watch
/// evictions`: handed to the store when it is opened (the server's
/// [`Watchers`](crate::Watchers), or [`NoEvictionLog`]). Called from the
/// store's background threads; it must never wait.
pub trait EvictionLog: Send + Sync {
    /// Whether anyone wants evictions now: a store asks before it gathers
    /// what [`evicted`](Self::evicted) reports.
    fn wanted(&self) -> bool;

    /// One item evicted.
    fn evicted(&self, eviction: &Eviction<'_>);
}

/// Nobody listens for evictions.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvictionLog;

impl EvictionLog for NoEvictionLog {
    fn wanted(&self) -> bool {
        false
    }

    fn evicted(&self, _: &Eviction<'_>) {}
}
