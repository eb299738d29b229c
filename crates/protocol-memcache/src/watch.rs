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

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use metriken::{Counter, Gauge, metric};
use petrel_protocol::{ResponseStream, Streamed};

use crate::Error;
use crate::key::percent_encode;
use crate::number::write_u64;

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

/// What a watcher asked to see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchKinds(u8);

impl WatchKinds {
    /// Retrievals: one `item_get` line per key looked up.
    pub const FETCHERS: Self = Self(1);
    /// Storage commands: one `item_store` line each.
    pub const MUTATIONS: Self = Self(2);
    /// Items evicted: one `eviction` line each, from the store's
    /// background work ([`log_eviction`]).
    pub const EVICTIONS: Self = Self(4);
    /// Connections opened and closed.
    pub const CONNEVENTS: Self = Self(8);

    /// The kinds named by `watch`'s arguments; none means fetchers, as in
    /// memcached. An unknown name is an error (`ERROR`).
    pub fn parse<'a>(words: impl Iterator<Item = &'a [u8]>) -> Result<Self, Error> {
        let mut kinds = 0;
        for word in words {
            kinds |= match word {
                b"fetchers" => Self::FETCHERS.0,
                b"mutations" => Self::MUTATIONS.0,
                b"evictions" => Self::EVICTIONS.0,
                b"connevents" => Self::CONNEVENTS.0,
                _ => return Err(Error::UnknownCommand),
            };
        }
        Ok(if kinds == 0 { Self::FETCHERS } else { Self(kinds) })
    }

    fn contains(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The words that ask for these kinds, for composing the request.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [
            (Self::FETCHERS, "fetchers"),
            (Self::MUTATIONS, "mutations"),
            (Self::EVICTIONS, "evictions"),
            (Self::CONNEVENTS, "connevents"),
        ]
        .into_iter()
        .filter(move |(kind, _)| self.contains(*kind))
        .map(|(_, name)| name)
    }
}

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

/// The watchers of the process.
struct Hub {
    /// The kinds some watcher wants: what every event checks first.
    watched: AtomicU8,
    /// Moves on whenever a watcher comes or goes.
    generation: AtomicU64,
    watchers: LazyLock<Mutex<Arc<Vec<Arc<Watcher>>>>>,
    /// memcached's `gid`: a number for each line, to put them in order.
    next_gid: AtomicU64,
}

static HUB: Hub = Hub {
    watched: AtomicU8::new(0),
    generation: AtomicU64::new(0),
    watchers: LazyLock::new(|| Mutex::new(Arc::new(Vec::new()))),
    next_gid: AtomicU64::new(1),
};

impl Hub {
    fn change(&self, change: impl FnOnce(&mut Vec<Arc<Watcher>>)) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = watchers.as_ref().clone();
        change(&mut next);
        let watched = next.iter().fold(0, |kinds, watcher| kinds | watcher.kinds.0);
        WATCHERS.set(next.len() as i64);
        *watchers = Arc::new(next);
        self.generation.fetch_add(1, Ordering::Release);
        self.watched.store(watched, Ordering::Release);
    }
}

/// Starts watching `kinds`: the stream to give the watcher's session, or
/// `None` when `limit` watchers are watching already.
pub fn watch(kinds: WatchKinds, limit: usize) -> Option<Box<dyn ResponseStream>> {
    let (sender, receiver) = crossbeam_channel::bounded(QUEUE_LINES);
    let watcher = Arc::new(Watcher { kinds, lines: sender, skipped: AtomicU64::new(0) });
    let mut admitted = false;
    HUB.change(|watchers| {
        if watchers.len() < limit {
            watchers.push(watcher.clone());
            admitted = true;
        }
    });
    admitted.then(|| Box::new(WatchStream { watcher, lines: receiver }) as Box<dyn ResponseStream>)
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

thread_local! {
    /// The watchers as a store's background thread last saw them.
    static BACKGROUND_LOG: std::cell::RefCell<WatchLog> = std::cell::RefCell::default();
}

/// Whether anyone watches evictions: a store checks before it gathers
/// what [`log_eviction`] reports.
pub fn evictions_watched() -> bool {
    WatchLog::wants(WatchKinds::EVICTIONS)
}

/// Logs an eviction for `watch evictions`, in memcached's format
/// (`type=eviction key=... fetch=yes|no ttl=<seconds, -1 for none> la=<seconds
/// idle> clsid=1 size=<bytes>`). For a store's background threads; it never
/// waits for a watcher.
pub fn log_eviction(eviction: Eviction<'_>) {
    if !evictions_watched() {
        return;
    }
    BACKGROUND_LOG.with_borrow_mut(|log| {
        log.publish(WatchKinds::EVICTIONS, |line| {
            line.text(b"type=eviction key=").key(eviction.key);
            line.text(if eviction.fetched { b" fetch=yes" } else { b" fetch=no" }).text(b" ttl=");
            match eviction.ttl {
                Some(ttl) => line.number(ttl),
                None => line.text(b"-1"),
            };
            line.text(b" la=").number(eviction.idle).text(b" clsid=1 size=").number(eviction.size as u64);
        })
    });
}

/// A watcher's side: the lines queued for it, composed as its socket drains.
struct WatchStream {
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
        HUB.change(|watchers| watchers.retain(|watcher| !Arc::ptr_eq(watcher, &self.watcher)));
    }
}

/// A worker's way to the watchers: its copy of the list, refreshed when
/// watchers come or go.
#[derive(Default)]
pub(crate) struct WatchLog {
    generation: u64,
    watchers: Arc<Vec<Arc<Watcher>>>,
}

impl std::fmt::Debug for WatchLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchLog").field("watchers", &self.watchers.len()).finish()
    }
}

impl WatchLog {
    /// Whether anyone watches events of `kind`.
    #[inline]
    pub(crate) fn wants(kind: WatchKinds) -> bool {
        HUB.watched.load(Ordering::Relaxed) & kind.0 != 0
    }

    /// Sends the line `fields` composes (after `ts=… gid=… `) to every
    /// watcher of `kind`, skipping those whose queues are full.
    pub(crate) fn publish(&mut self, kind: WatchKinds, fields: impl FnOnce(&mut LineWriter)) {
        let generation = HUB.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.watchers = HUB.watchers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
            self.generation = generation;
        }
        // A watcher that has fallen behind costs a count, not a line.
        let interested = self.watchers.iter().filter(|watcher| watcher.kinds.contains(kind));
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
        writer.text(b" gid=").number(HUB.next_gid.fetch_add(1, Ordering::Relaxed)).text(b" ");
        fields(&mut writer);
        writer.end_line();
        for watcher in self.watchers.iter().filter(|watcher| watcher.kinds.contains(kind)) {
            if let Err(TrySendError::Full(_)) = watcher.lines.try_send(writer.line) {
                watcher.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
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
