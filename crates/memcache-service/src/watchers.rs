//! `watch`: memcached's log stream. A connection that sends `watch
//! [fetchers] [mutations] [evictions] [connevents]` is answered `OK` and
//! from then on is sent one line per event of those kinds, in memcached's
//! format:
//!
//! ```text
//! ts=1796087259.269812 gid=4 type=item_store key=a status=stored cmd=set ttl=0 clsid=1 cfd=0 size=3
//! ```
//!
//! Workers never wait for a watcher. Each watcher has a bounded queue of
//! lines; a worker formats an event once and offers it to every watcher of
//! its kind without blocking, and a line that does not fit is counted and
//! reported to that watcher as `skipped=N` when it catches up. With no
//! watcher, an event costs one relaxed load of a flag no one writes.
//!
//! The watchers belong to a [`Watchers`] handle that the server creates
//! and hands to each worker's service and to its store, so that two
//! servers in one process keep theirs apart.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use metriken::{Counter, Gauge, metric};
use petrel_protocol::{ResponseStream, Streamed};

use petrel_protocol_memcache::WatchKinds;
use petrel_protocol_memcache::number::write_u64;
use petrel_protocol_memcache::percent_encode;

use crate::report::{Eviction, EvictionLog};

#[metric(name = "log_watchers", description = "connections watching the log (memcached's name)")]
static WATCHERS: Gauge = Gauge::new();
#[metric(name = "log_watcher_sent", description = "log lines sent to watchers (memcached's name)")]
static SENT: Counter = Counter::new();
#[metric(
    name = "log_watcher_skipped",
    description = "log lines dropped for watchers that fell behind (memcached's name)"
)]
static SKIPPED: Counter = Counter::new();

/// Lines a watcher's queue holds before more are skipped.
const QUEUE_LINES: usize = 1024;
/// The longest line: a 250-byte key percent-encodes to 750.
const LINE_MAX: usize = 1024;
/// Most bytes of lines composed for a watcher per turn of its worker.
const PART_BYTES: usize = 16 << 10;
/// Most watchers at once unless the server says otherwise
/// ([`MemcacheService::with_max_watchers`](crate::MemcacheService::with_max_watchers));
/// the next is answered `WATCHER_TOO_MANY`, as by memcached.
pub const MAX_WATCHERS: usize = 16;

/// One formatted line, copied into a watcher's queue without allocating.
#[derive(Clone, Copy)]
struct Line {
    len: u16,
    bytes: [u8; LINE_MAX],
}

struct Watcher {
    kinds: WatchKinds,
    lines: Sender<Line>,
    skipped: AtomicU64,
}

/// The watchers of one server: what its workers' services and its store's
/// background threads publish to.
#[derive(Default)]
struct Hub {
    /// The kinds some watcher wants: what every event checks first.
    watched: AtomicU8,
    /// Moves on whenever a watcher comes or goes.
    generation: AtomicU64,
    watchers: Mutex<Arc<Vec<Arc<Watcher>>>>,
    /// memcached's `gid`: a number for each line, to put them in order.
    next_gid: AtomicU64,
    /// The background threads' way to the watchers ([`EvictionLog`]):
    /// they are few and publish only while someone watches evictions, so
    /// they share one.
    background: Mutex<Listing>,
}

impl Hub {
    fn change(&self, change: impl FnOnce(&mut Vec<Arc<Watcher>>)) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = watchers.as_ref().clone();
        change(&mut next);
        let watched = next.iter().fold(WatchKinds::default(), |kinds, watcher| kinds.union(watcher.kinds));
        WATCHERS.add(next.len() as i64 - watchers.len() as i64);
        *watchers = Arc::new(next);
        self.generation.fetch_add(1, Ordering::Release);
        self.watched.store(watched.bits(), Ordering::Release);
    }
}

/// The watchers of one server (`watch`): created once by the server and
/// handed to every worker's service, and to the store as its
/// [`EvictionLog`]. Clones share the watchers.
#[derive(Clone, Default)]
pub struct Watchers(Arc<Hub>);

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers").field("watched", &self.0.watched.load(Ordering::Relaxed)).finish()
    }
}

impl Watchers {
    /// No watcher yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts watching `kinds`: the stream to give the watcher's session,
    /// or `None` when `limit` watchers are watching already.
    pub fn watch(&self, kinds: WatchKinds, limit: usize) -> Option<Box<dyn ResponseStream>> {
        let (sender, receiver) = crossbeam_channel::bounded(QUEUE_LINES);
        let watcher = Arc::new(Watcher { kinds, lines: sender, skipped: AtomicU64::new(0) });
        let mut admitted = false;
        self.0.change(|watchers| {
            if watchers.len() < limit {
                watchers.push(watcher.clone());
                admitted = true;
            }
        });
        admitted.then(|| {
            Box::new(WatchStream { hub: self.0.clone(), watcher, lines: receiver }) as Box<dyn ResponseStream>
        })
    }

    /// A worker's way to the watchers.
    pub(crate) fn log(&self) -> WatchLog {
        WatchLog { hub: self.0.clone(), listing: Listing::default() }
    }
}

impl EvictionLog for Watchers {
    fn wanted(&self) -> bool {
        WatchKinds::from_bits(self.0.watched.load(Ordering::Relaxed)).contains(WatchKinds::EVICTIONS)
    }

    /// Logs the eviction in memcached's format (`type=eviction key=...
    /// fetch=yes|no ttl=<seconds, -1 for none> la=<seconds idle> clsid=1
    /// size=<bytes>`), never waiting for a watcher.
    fn evicted(&self, eviction: &Eviction<'_>) {
        if !self.wanted() {
            return;
        }
        let mut listing = self.0.background.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.0.publish(&mut listing, WatchKinds::EVICTIONS, |line| {
            line.text(b"type=eviction key=").key(eviction.key);
            line.text(if eviction.fetched { b" fetch=yes" } else { b" fetch=no" }).text(b" ttl=");
            match eviction.ttl {
                Some(ttl) => line.number(ttl),
                None => line.text(b"-1"),
            };
            line.text(b" la=").number(eviction.idle).text(b" clsid=1 size=").number(eviction.size as u64);
        });
    }
}

/// A watcher's side: the lines queued for it, composed as its socket drains.
struct WatchStream {
    hub: Arc<Hub>,
    watcher: Arc<Watcher>,
    lines: Receiver<Line>,
}

impl ResponseStream for WatchStream {
    fn compose_next(&mut self, out: &mut Vec<u8>) -> Streamed {
        let start = out.len();
        let skipped = self.watcher.skipped.swap(0, Ordering::Relaxed);
        if skipped > 0 {
            SKIPPED.add(skipped);
            out.extend_from_slice(b"skipped=");
            write_u64(out, skipped);
            out.push(b'\n');
        }
        let mut sent = 0;
        while out.len() - start < PART_BYTES {
            let Ok(line) = self.lines.try_recv() else {
                SENT.add(sent);
                return Streamed::Later;
            };
            out.extend_from_slice(&line.bytes[..line.len as usize]);
            sent += 1;
        }
        SENT.add(sent);
        Streamed::More
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.hub.change(|watchers| watchers.retain(|watcher| !Arc::ptr_eq(watcher, &self.watcher)));
    }
}

/// A copy of the list of watchers, refreshed when watchers come or go.
#[derive(Default)]
struct Listing {
    generation: u64,
    watchers: Arc<Vec<Arc<Watcher>>>,
}

impl Hub {
    /// Sends the line `fields` composes (after `ts=… gid=… `) to every
    /// watcher of `kind`, skipping those whose queues are full.
    fn publish(&self, listing: &mut Listing, kind: WatchKinds, fields: impl FnOnce(&mut LineWriter)) {
        let generation = self.generation.load(Ordering::Acquire);
        if generation != listing.generation {
            listing.watchers = self.watchers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
            listing.generation = generation;
        }
        // A watcher that has fallen behind costs a count, not a line.
        let interested = listing.watchers.iter().filter(|watcher| watcher.kinds.contains(kind));
        if interested.clone().all(|watcher| watcher.lines.is_full()) {
            interested.for_each(|watcher| {
                watcher.skipped.fetch_add(1, Ordering::Relaxed);
            });
            return;
        }
        let mut writer = LineWriter { line: Line { len: 0, bytes: [0; LINE_MAX] } };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        writer.text(b"ts=").number(now.as_secs()).text(b".");
        let micros = now.subsec_micros() as u64;
        for digit in [100_000, 10_000, 1_000, 100, 10, 1] {
            writer.text(&[b'0' + (micros / digit % 10) as u8]);
        }
        writer.text(b" gid=").number(self.next_gid.fetch_add(1, Ordering::Relaxed) + 1).text(b" ");
        fields(&mut writer);
        writer.end_line();
        for watcher in listing.watchers.iter().filter(|watcher| watcher.kinds.contains(kind)) {
            if let Err(TrySendError::Full(_)) = watcher.lines.try_send(writer.line) {
                watcher.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A worker's way to the watchers.
pub(crate) struct WatchLog {
    hub: Arc<Hub>,
    listing: Listing,
}

impl std::fmt::Debug for WatchLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchLog").field("watchers", &self.listing.watchers.len()).finish()
    }
}

impl WatchLog {
    /// Whether anyone watches events of `kind`.
    #[inline]
    pub(crate) fn wants(&self, kind: WatchKinds) -> bool {
        WatchKinds::from_bits(self.hub.watched.load(Ordering::Relaxed)).contains(kind)
    }

    /// Sends the line `fields` composes to every watcher of `kind`.
    pub(crate) fn publish(&mut self, kind: WatchKinds, fields: impl FnOnce(&mut LineWriter)) {
        self.hub.publish(&mut self.listing, kind, fields);
    }
}

/// Composes one line into a fixed buffer; what does not fit is cut.
pub(crate) struct LineWriter {
    line: Line,
}

impl LineWriter {
    /// Appends bytes as they are.
    pub(crate) fn text(&mut self, bytes: &[u8]) -> &mut Self {
        // Keep room for the newline.
        let len = self.line.len as usize;
        let taken = bytes.len().min(LINE_MAX - 1 - len);
        self.line.bytes[len..len + taken].copy_from_slice(&bytes[..taken]);
        self.line.len += taken as u16;
        self
    }

    /// Appends a number in decimal.
    pub(crate) fn number(&mut self, mut value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.text(&digits[start..])
    }

    /// Appends a key percent-encoded, as memcached writes keys in its logs.
    pub(crate) fn key(&mut self, key: &[u8]) -> &mut Self {
        percent_encode(key, |piece| {
            self.text(piece);
        });
        self
    }

    fn end_line(&mut self) {
        // `text` always leaves room for this.
        self.line.bytes[self.line.len as usize] = b'\n';
        self.line.len += 1;
    }
}

#[cfg(test)]
mod tests;
