//! Executing memcache requests against a [`Storage`]: the service, its
//! counters and its dispatch; the text commands are in `service/text.rs`,
//! the meta commands in `service/meta.rs`, the binary ones in
//! `service/binary.rs`.
//!
//! The service turns each request into one atomic storage operation and the
//! result into a [`Response`]. Keys and values for the response are copied
//! into the service's scratch buffers, which are reused from one request to
//! the next, so a steady load allocates nothing.

use std::any::Any;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metriken::metric;
use petrel_metrics::{LatencyHistogram, LatencyShard, ServerInfo};
use petrel_protocol::{ConnectionEvent, IfCommitFails, ResponseStream, Service, Streamed};

use crate::binary::{BinaryReply, BinaryResponse, Status};
use crate::crawler::{CrawlerCommand, ItemCursor, KeyDump};
use crate::request::{Limits, Request};
use crate::response::{Hit, MetaCode, Response, ReturnFlag};
use crate::store::{Storage, StorageError};
use crate::watch::WatchLog;
use crate::{Clock, Error, Memcache};

mod acknowledges;
mod binary;
mod counts;
mod meta;
mod retrieval;
mod text;
mod watching;

use acknowledges::{Acknowledges, COMMIT_FAILED, acknowledges_change};
use counts::{COMMIT_ERRORS, Counts, STORE_ERRORS};
pub use retrieval::RESPONSE_PART;
use retrieval::{RestOfRetrieval, Retrieval};

#[metric(name = "get_latency", description = "nanoseconds to serve a retrieval (get, gets, gat, gats, mg)")]
static GET_LATENCY: LatencyHistogram = LatencyHistogram::new();
#[metric(name = "set_latency", description = "nanoseconds to serve a storage request (set ... cas, ms)")]
static SET_LATENCY: LatencyHistogram = LatencyHistogram::new();
#[metric(name = "delete_latency", description = "nanoseconds to serve delete and md")]
static DELETE_LATENCY: LatencyHistogram = LatencyHistogram::new();
#[metric(name = "arithmetic_latency", description = "nanoseconds to serve incr, decr and ma")]
static ARITHMETIC_LATENCY: LatencyHistogram = LatencyHistogram::new();
#[metric(name = "touch_latency", description = "nanoseconds to serve touch")]
static TOUCH_LATENCY: LatencyHistogram = LatencyHistogram::new();

/// This worker's shards of the latency histograms.
struct Latencies {
    get: LatencyShard,
    set: LatencyShard,
    delete: LatencyShard,
    arithmetic: LatencyShard,
    touch: LatencyShard,
}

impl Latencies {
    fn new() -> Self {
        Self {
            get: GET_LATENCY.shard(),
            set: SET_LATENCY.shard(),
            delete: DELETE_LATENCY.shard(),
            arithmetic: ARITHMETIC_LATENCY.shard(),
            touch: TOUCH_LATENCY.shard(),
        }
    }
}

/// Response text reused between requests.
#[derive(Debug, Default)]
struct Scratch {
    bytes: Vec<u8>,
    hits: Vec<Hit>,
    flags: Vec<ReturnFlag>,
}

impl Scratch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.hits.clear();
        self.flags.clear();
    }

    /// Gives back what a large response grew the buffers to: one item of
    /// up to a mebibyte would otherwise stay allocated by every worker that
    /// ever served one.
    fn release_large(&mut self) {
        const KEPT: usize = 2 * retrieval::RESPONSE_PART;
        if self.bytes.capacity() > KEPT {
            self.bytes.clear();
            self.bytes.shrink_to(KEPT);
        }
        if self.hits.capacity() > KEPT / 64 {
            self.hits.clear();
            self.hits.shrink_to(KEPT / 64);
        }
    }

    /// Copies `data` in; returns where it went.
    fn push(&mut self, data: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        start..self.bytes.len()
    }
}

/// Serves memcache requests from a shared [`Storage`]; one per worker.
pub struct MemcacheService<S: Storage> {
    storage: Arc<S>,
    /// This worker's state in the store.
    worker: S::Worker,
    limits: Limits,
    server: Arc<ServerInfo>,
    scratch: Scratch,
    /// The store's write count when the last request began, and whether
    /// that request's reply acknowledges a change: for `if_commit_fails`.
    writes_before: u64,
    acknowledges_change: Acknowledges,
    /// The store's reply for the last commit that failed.
    commit_failure: Option<&'static str>,
    /// This worker's counts, published once per round.
    counts: Counts,
    /// The rest of a key dump or a watch the last request began, for the
    /// session.
    unfinished: Option<Box<dyn ResponseStream>>,
    /// This worker's way to the watchers (`watch`).
    watch_log: WatchLog,
    /// Most connections watching at once.
    max_watchers: usize,
    clock: Clock,
    latencies: Latencies,
}

impl<S: Storage> MemcacheService<S> {
    /// A service over `storage`, reporting `server` in `stats`.
    pub fn new(storage: Arc<S>, limits: Limits, server: Arc<ServerInfo>) -> Self {
        Self {
            worker: storage.worker(),
            storage,
            limits,
            server,
            scratch: Scratch::default(),
            writes_before: 0,
            acknowledges_change: Acknowledges::Nothing,
            commit_failure: None,
            counts: Counts::default(),
            unfinished: None,
            watch_log: WatchLog::default(),
            max_watchers: crate::watch::MAX_WATCHERS,
            clock: Clock::System,
            latencies: Latencies::new(),
        }
    }

    /// This service admitting at most `limit` watchers (`watch`) at once.
    pub fn with_max_watchers(mut self, limit: usize) -> Self {
        self.max_watchers = limit;
        self
    }

    /// This service reading the time from `clock` (tests: a manual one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Bytes this service holds for replies being composed (its scratch
    /// buffers): at most [`RESPONSE_PART`] and one item past a round that
    /// served a large reply, whatever the request.
    pub fn held_bytes(&self) -> usize {
        self.scratch.bytes.capacity() + self.scratch.hits.capacity() * std::mem::size_of::<Hit>()
    }

    /// `lru_crawler`: a dump's lines come from the stream the session
    /// takes after this request (see `take_stream`).
    fn lru_crawler(&mut self, command: CrawlerCommand) -> Response<'static> {
        let (format, items) = match command {
            CrawlerCommand::Accepted => return Response::Ok,
            CrawlerCommand::BadClass => return Response::BadClass,
            CrawlerCommand::NotStarted => return Response::NotStarted,
            CrawlerCommand::Dump(format) => (format, self.storage.items()),
            CrawlerCommand::EmptyDump(format) => (format, Box::new(NoItems) as Box<dyn ItemCursor>),
        };
        self.unfinished = Some(Box::new(KeyDump::new(items, format, self.clock.now())));
        Response::Silent
    }

    fn stats(&mut self, group: Option<&[u8]>, argument: Option<&[u8]>) -> Response<'_> {
        // This round's counts so far, so that stats include them.
        self.counts.publish();
        let out = &mut self.scratch.bytes;
        match (group, argument) {
            (None, _) => {
                self.storage.stats().report();
                self.server.write_stats(out);
                petrel_metrics::write_stats(out);
            }
            (Some(b"reset"), _) => {
                petrel_metrics::reset_stats();
                return Response::Reset;
            }
            (Some(b"settings"), _) => {
                self.server.write_settings(out);
                petrel_metrics::stat_line(out, "item_size_max", self.limits.item_size_max);
            }
            // Per-prefix accounting is never kept: turning it on or off is
            // accepted, as by memcached, and its dump is empty.
            (Some(b"detail"), Some(b"dump")) => {}
            (Some(b"detail"), Some(b"on" | b"off")) => return Response::Ok,
            (Some(b"detail"), _) => return Response::Error(Error::DetailUsage),
            // memcached's answer when it keeps no size histogram, as here.
            (Some(b"sizes"), _) => petrel_metrics::stat_line(out, "sizes_status", "disabled"),
            // Each client connection and the listener, as memcached lists
            // them: address, listener, state, seconds since its last command.
            (Some(b"conns"), _) => {
                if let Some(connections) = self.server.connections.get() {
                    connections.write_stats(out);
                }
            }
            // Slab and item-class dumps describe memcached's allocator;
            // Petrel has none of that to report.
            (Some(b"items" | b"slabs"), _) => {}
            _ => return Response::Error(Error::UnknownCommand),
        }
        Response::Stats(&self.scratch.bytes)
    }
}

impl<S: Storage> Service<Memcache> for MemcacheService<S> {
    fn execute<'s>(&'s mut self, request: Request<'_>) -> Response<'s> {
        self.scratch.clear();
        // The command log, sampled: every command passes here, so a log of
        // one in N shows which keys are hot, reads and writes alike.
        petrel_logger::klog!("{request}");
        self.writes_before = self.storage.writes(&self.worker);
        self.acknowledges_change = acknowledges_change(&request);
        match request {
            Request::Get { keys, cas, last } => self.get(keys, Retrieval { touch: None, cas, last }),
            Request::GetAndTouch { exptime, keys, cas, last } => {
                self.get(keys, Retrieval { touch: Some(exptime), cas, last })
            }
            Request::TooLarge { key, command, noreply } => self.too_large(key, command, noreply),
            Request::Store { command, key, flags, exptime, value, cas, noreply } => {
                self.store(command, key, flags, exptime, value, cas, noreply)
            }
            Request::Delete { key, noreply } => self.delete(key, noreply),
            Request::Arithmetic { key, delta, increment, noreply } => {
                self.arithmetic(key, delta, increment, noreply)
            }
            Request::Touch { key, exptime, noreply } => self.touch(key, exptime, noreply),
            Request::FlushAll { delay, noreply } => self.flush_all(delay, noreply),
            Request::Version => Response::Version(&self.server.version),
            Request::Verbosity { noreply, .. } => quiet_if(noreply, Response::Ok),
            Request::Stats { group, argument } => self.stats(group, argument),
            Request::Quit => Response::Quit,
            Request::LruCrawler(command) => self.lru_crawler(command),
            Request::Slabs { command, noreply } => quiet_if(noreply, Response::Status(command.reply())),
            Request::Watch { kinds, noreply } => self.watch(kinds, noreply),
            Request::MetaGet { key, flags } => self.meta_get(key, flags),
            Request::MetaSet { key, flags, value } => self.meta_set(key, flags, value),
            Request::MetaDelete { key, flags } => self.meta_delete(key, flags),
            Request::MetaArithmetic { key, flags } => self.meta_arithmetic(key, flags),
            Request::MetaDebug { key, .. } => self.meta_debug(key),
            Request::MetaNoop => Response::Meta { code: MetaCode::Noop, flags: &[], value: None, bytes: &[] },
            Request::Binary(request) => self.binary(request),
        }
    }

    fn take_stream(&mut self) -> Option<Box<dyn ResponseStream>> {
        self.unfinished.take()
    }

    fn compose_next(&mut self, rest: &mut dyn ResponseStream, out: &mut Vec<u8>) -> Streamed {
        match (rest as &mut dyn Any).downcast_mut::<RestOfRetrieval>() {
            Some(retrieval) => self.compose_rest(retrieval, out),
            None => rest.compose_next(out),
        }
    }

    fn connection_event(&mut self, event: ConnectionEvent) {
        self.log_connection(event);
    }

    fn commit(&mut self) -> std::io::Result<()> {
        // Once per round: the round's counts reach the shared counters, and
        // the scratch buffers shrink back after a large response.
        self.counts.publish();
        self.scratch.release_large();
        let committed = self.storage.commit(&mut self.worker);
        if let Err(error) = &committed {
            // Kept past later commits: a commit made when one connection's
            // write buffer filled may fail, and the next succeed, before the
            // replies of the others it covered are withdrawn.
            self.commit_failure = Some(error.reply);
        }
        committed.map_err(|error| {
            COMMIT_ERRORS.increment();
            STORE_ERRORS.increment();
            std::io::Error::other(error.to_string())
        })
    }

    /// A reply that acknowledged a write becomes `SERVER_ERROR` if the
    /// commit fails, as when the write itself fails; every other reply
    /// (retrievals, refusals, errors, silenced replies) stands.
    fn if_commit_fails(&mut self) -> IfCommitFails {
        if self.storage.writes(&self.worker) == self.writes_before {
            return IfCommitFails::ReplyStands;
        }
        match self.acknowledges_change.note() {
            Some(note) => IfCommitFails::Replace(note),
            None => IfCommitFails::ReplyStands,
        }
    }

    /// The store's own reason for the failed commit (`SERVER_ERROR 307
    /// busy` for a stall with `write_stall = "busy"`), in the request's
    /// protocol.
    fn failed_reply(&mut self, note: u64) -> Option<Response<'_>> {
        let reason = self.commit_failure.unwrap_or(COMMIT_FAILED);
        Some(match Acknowledges::from_note(note) {
            Acknowledges::Binary { opcode, opaque } => {
                let reply = BinaryReply::Failed { status: Status::OutOfMemory, message: reason };
                Response::Binary(BinaryResponse { opcode, opaque, reply })
            }
            _ => Response::Error(Error::Server(reason)),
        })
    }
}

/// The items of a dump naming only classes that hold none.
struct NoItems;

impl ItemCursor for NoItems {
    fn next_part(
        &mut self,
        _now: u64,
        _visit: &mut dyn FnMut(&[u8], &crate::rules::ItemMeta, usize) -> bool,
    ) -> crate::Walk {
        crate::Walk::End
    }
}

/// `noreply` silences every reply of a text command, errors included, as in
/// memcached: a stray error line would be read as the reply to the
/// client's next command.
pub(super) fn quiet_if(noreply: bool, response: Response<'_>) -> Response<'_> {
    if noreply { Response::Silent } else { response }
}

pub(super) fn store_failed(error: StorageError) -> Response<'static> {
    note_store_failure(&error);
    Response::Error(Error::Server(error.reply))
}

/// Counts and logs a failure of the store.
pub(super) fn note_store_failure(error: &StorageError) {
    STORE_ERRORS.increment();
    log_store_failure(error);
}

/// The second of the last logged store failure, and failures since.
static LAST_LOGGED_FAILURE: AtomicU64 = AtomicU64::new(0);
static FAILURES_SINCE_LOGGED: AtomicU64 = AtomicU64::new(0);

/// Logs a store failure, at most once a second with the count since the
/// last line: a full disk or a stall fails every write, and a line per
/// write would cost more than the writes.
pub(super) fn log_store_failure(error: &StorageError) {
    let now = crate::unix_now();
    let last = LAST_LOGGED_FAILURE.load(Ordering::Relaxed);
    if now == last
        || LAST_LOGGED_FAILURE.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        FAILURES_SINCE_LOGGED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let others = FAILURES_SINCE_LOGGED.swap(0, Ordering::Relaxed);
    log::warn!("store failed: {error} ({others} more since the last line)");
}
