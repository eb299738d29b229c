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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use petrel_metrics::ServerInfo;
use petrel_protocol::{ConnectionEvent, Executed, IfCommitFails, ResponseStream, Service, Streamed};

use petrel_protocol_memcache::binary::{BinaryReply, BinaryResponse, Status};
use petrel_protocol_memcache::{CrawlerCommand, Error, Hit, Limits, Memcache, MetaCode, Request, Response};

use crate::Clock;
use crate::key_dump::KeyDump;
use crate::store::{ItemCursor, ItemMeta, Walk};
use crate::store::{Storage, StorageError};
use crate::watchers::{MAX_WATCHERS, WatchLog, Watchers};

mod acknowledges;
mod binary;
mod counts;
mod meta;
mod retrieval;
mod scratch;
mod text;
mod watching;

use acknowledges::{Acknowledges, COMMIT_FAILED, acknowledges_change};
use counts::{COMMIT_ERRORS, Counts, Latencies, STORE_ERRORS};
pub use retrieval::RESPONSE_PART;
use retrieval::{RestOfRetrieval, Retrieval};
pub(crate) use scratch::Scratch;

/// Serves memcache requests from a shared [`Storage`]; one per worker.
///
/// A response borrows only the scratch buffers and the server's figures;
/// the rest of the service (its `Executor`) is free again once the
/// response is formed, to say what the reply acknowledges and to hand over
/// the rest of a long reply, all in the one [`Executed`] value.
pub struct MemcacheService<S: Storage> {
    executor: Executor<S>,
    scratch: Scratch,
    server: Arc<ServerInfo>,
}

/// Everything of the service but what its responses borrow.
pub(super) struct Executor<S: Storage> {
    storage: Arc<S>,
    /// This worker's state in the store.
    worker: S::Worker,
    limits: Limits,
    /// The store's reply for the last commit that failed.
    commit_failure: Option<&'static str>,
    /// This worker's counts, published once per round.
    counts: Counts,
    /// The rest of a retrieval, key dump or watch the request being
    /// executed began, for the session.
    unfinished: Option<Box<dyn ResponseStream>>,
    /// The server's watchers (`watch`), and this worker's way to them.
    watchers: Watchers,
    watch_log: WatchLog,
    /// Most connections watching at once.
    max_watchers: usize,
    clock: Clock,
    latencies: Latencies,
}

impl<S: Storage> MemcacheService<S> {
    /// A service over `storage`, reporting `server` in `stats` and its
    /// events to `watchers`, which every worker's service shares.
    pub fn new(storage: Arc<S>, limits: Limits, server: Arc<ServerInfo>, watchers: &Watchers) -> Self {
        let executor = Executor {
            worker: storage.worker(),
            storage,
            limits,
            commit_failure: None,
            counts: Counts::default(),
            unfinished: None,
            watchers: watchers.clone(),
            watch_log: watchers.log(),
            max_watchers: MAX_WATCHERS,
            clock: Clock::System,
            latencies: Latencies::new(),
        };
        Self { executor, scratch: Scratch::default(), server }
    }

    /// This service admitting at most `limit` watchers (`watch`) at once.
    pub fn with_max_watchers(mut self, limit: usize) -> Self {
        self.executor.max_watchers = limit;
        self
    }

    /// This service reading the time from `clock` (tests: a manual one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.executor.clock = clock;
        self
    }

    /// Bytes this service holds for replies being composed (its scratch
    /// buffers): at most [`RESPONSE_PART`] and one item past a round that
    /// served a large reply, whatever the request.
    pub fn held_bytes(&self) -> usize {
        self.scratch.bytes.capacity() + self.scratch.hits.capacity() * std::mem::size_of::<Hit>()
    }
}

/// What a `stats` request wrote, for the text or binary reply.
pub(super) enum StatsWritten {
    /// `STAT` lines (perhaps none).
    Lines,
    /// The counters were reset.
    Reset,
    /// A setting was accepted (`stats detail on`).
    Accepted,
}

impl<S: Storage> Executor<S> {
    /// Runs one request; the response borrows `scratch` and `server` only.
    fn dispatch<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        server: &'s ServerInfo,
        request: Request<'_>,
    ) -> Response<'s> {
        match request {
            Request::Get { keys, cas, last } => self.get(scratch, keys, Retrieval { touch: None, cas, last }),
            Request::GetAndTouch { exptime, keys, cas, last } => {
                self.get(scratch, keys, Retrieval { touch: Some(exptime), cas, last })
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
            Request::Version => Response::Version(&server.version),
            Request::Verbosity { noreply, .. } => quiet_if(noreply, Response::Ok),
            Request::Stats { group, argument } => {
                match self.write_stats(&mut scratch.bytes, server, group, argument) {
                    Ok(StatsWritten::Lines) => Response::Stats(&scratch.bytes),
                    Ok(StatsWritten::Reset) => Response::Reset,
                    Ok(StatsWritten::Accepted) => Response::Ok,
                    Err(error) => Response::Error(error),
                }
            }
            Request::Quit => Response::Quit,
            Request::LruCrawler(command) => self.lru_crawler(command),
            Request::Slabs { command, noreply } => quiet_if(noreply, Response::Status(command.reply())),
            Request::Watch { kinds, noreply } => self.watch(kinds, noreply),
            Request::MetaGet { key, flags } => self.meta_get(scratch, key, flags),
            Request::MetaSet { key, flags, value } => self.meta_set(scratch, key, flags, value),
            Request::MetaDelete { key, flags } => self.meta_delete(scratch, key, flags),
            Request::MetaArithmetic { key, flags } => self.meta_arithmetic(scratch, key, flags),
            Request::MetaDebug { key, .. } => self.meta_debug(scratch, key),
            Request::MetaNoop => Response::Meta { code: MetaCode::Noop, flags: &[], value: None, bytes: &[] },
            Request::Binary(request) => self.binary(scratch, server, request),
        }
    }

    /// What becomes of the reply of a request that began when the store
    /// had counted `writes_before` writes: one that acknowledged a write
    /// becomes `SERVER_ERROR` if the commit fails, as when the write itself
    /// fails; every other reply (retrievals, refusals, errors, silenced
    /// replies) stands.
    fn if_commit_fails(&self, writes_before: u64, acknowledges: Acknowledges) -> IfCommitFails {
        if self.storage.writes(&self.worker) == writes_before {
            return IfCommitFails::ReplyStands;
        }
        match acknowledges.note() {
            Some(note) => IfCommitFails::Replace(note),
            None => IfCommitFails::ReplyStands,
        }
    }

    /// `lru_crawler`: a dump's lines come from the stream the session
    /// is handed with the reply.
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

    /// `stats`, of the text and binary protocols alike: writes the
    /// group's lines into `out`.
    pub(super) fn write_stats(
        &mut self,
        out: &mut Vec<u8>,
        server: &ServerInfo,
        group: Option<&[u8]>,
        argument: Option<&[u8]>,
    ) -> Result<StatsWritten, Error> {
        // This round's counts so far, so that stats include them.
        self.counts.publish();
        match (group, argument) {
            (None, _) => {
                self.storage.stats().report();
                server.write_stats(out);
                petrel_metrics::write_stats(out);
            }
            (Some(b"reset"), _) => {
                // The store's counts as of now, so that the reset starts
                // from them rather than from the last `stats`.
                self.storage.stats().report();
                petrel_metrics::reset_stats();
                return Ok(StatsWritten::Reset);
            }
            (Some(b"settings"), _) => {
                server.write_settings(out);
                petrel_metrics::stat_line(out, "item_size_max", self.limits.item_size_max);
            }
            // Per-prefix accounting is never kept: turning it on or off is
            // accepted, as by memcached, and its dump is empty.
            (Some(b"detail"), Some(b"dump")) => {}
            (Some(b"detail"), Some(b"on" | b"off")) => return Ok(StatsWritten::Accepted),
            (Some(b"detail"), _) => return Err(Error::DetailUsage),
            // memcached's answer when it keeps no size histogram, as here.
            (Some(b"sizes"), _) => petrel_metrics::stat_line(out, "sizes_status", "disabled"),
            // Each client connection and the listener, as memcached lists
            // them: address, listener, state, seconds since its last command.
            (Some(b"conns"), _) => {
                if let Some(connections) = server.connections.get() {
                    connections.write_stats(out);
                }
            }
            // Slab and item-class dumps describe memcached's allocator;
            // Petrel has none of that to report.
            (Some(b"items" | b"slabs"), _) => {}
            _ => return Err(Error::UnknownCommand),
        }
        Ok(StatsWritten::Lines)
    }
}

impl<S: Storage> Service<Memcache> for MemcacheService<S> {
    fn execute<'s>(&'s mut self, request: Request<'_>) -> Executed<Response<'s>> {
        let Self { executor, scratch, server } = self;
        scratch.clear();
        // The command log, sampled: every command passes here, so a log of
        // one in N shows which keys are hot, reads and writes alike.
        petrel_logger::klog!("{request}");
        let writes_before = executor.storage.writes(&executor.worker);
        let acknowledges = acknowledges_change(&request);
        let response = executor.dispatch(scratch, server, request);
        Executed {
            response,
            if_commit_fails: executor.if_commit_fails(writes_before, acknowledges),
            stream: executor.unfinished.take(),
        }
    }

    fn compose_next(&mut self, rest: &mut dyn ResponseStream, out: &mut Vec<u8>) -> Streamed {
        match (rest as &mut dyn Any).downcast_mut::<RestOfRetrieval>() {
            Some(retrieval) => self.executor.compose_rest(&mut self.scratch, retrieval, out),
            None => rest.compose_next(out),
        }
    }

    fn connection_event(&mut self, event: ConnectionEvent) {
        self.executor.log_connection(event);
    }

    fn commit(&mut self) -> std::io::Result<()> {
        // Once per round: the round's counts reach the shared counters, and
        // the scratch buffers shrink back after a large response.
        let executor = &mut self.executor;
        executor.counts.publish();
        self.scratch.release_large();
        let committed = executor.storage.commit(&mut executor.worker);
        // Asked for by `failed_reply`, before the next commit.
        executor.commit_failure = committed.as_ref().err().map(|error| error.reply);
        committed.map_err(|error| {
            COMMIT_ERRORS.increment();
            STORE_ERRORS.increment();
            std::io::Error::other(error.to_string())
        })
    }

    /// The store's own reason for the failed commit (`SERVER_ERROR 307
    /// busy` for a stall with `write_stall = "busy"`), in the request's
    /// protocol.
    fn failed_reply(&mut self, note: u64) -> Option<Response<'_>> {
        let reason = self.executor.commit_failure.unwrap_or(COMMIT_FAILED);
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
    fn next_part(&mut self, _now: u64, _visit: &mut dyn FnMut(&[u8], &ItemMeta, usize) -> bool) -> Walk {
        Walk::End
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
    let now = crate::expiry::unix_now();
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
