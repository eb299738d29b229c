//! The service's counters. A request adds to its worker's plain integers
//! ([`Counts`]); the worker adds them to the shared counters once per round
//! (at the commit) and before answering `stats`, so that no counter every
//! worker writes is written per request.

use metriken::{Counter, metric};
use petrel_metrics::{LatencyHistogram, LatencyShard};

macro_rules! counters {
    ($($field:ident: $name:ident = $text:literal, $description:literal;)*) => {
        $(
            #[metric(name = $text, description = $description)]
            static $name: Counter = Counter::new();
        )*

        /// One worker's counts since they were last published.
        #[derive(Debug, Default)]
        pub(crate) struct Counts {
            $(pub(crate) $field: u64,)*
        }

        impl Counts {
            /// Adds the counts to the shared counters and starts again
            /// from zero.
            pub(crate) fn publish(&mut self) {
                $(
                    if self.$field != 0 {
                        $name.add(std::mem::take(&mut self.$field));
                    }
                )*
            }
        }
    };
}

counters! {
    cmd_get: CMD_GET = "cmd_get", "keys looked up by get, gets, gat, gats and mg";
    cmd_set: CMD_SET = "cmd_set", "storage requests (set, add, replace, append, prepend, cas, ms)";
    cmd_flush: CMD_FLUSH = "cmd_flush", "flush_all requests";
    cmd_touch: CMD_TOUCH = "cmd_touch", "touch, gat and gats requests";
    get_hits: GET_HITS = "get_hits", "keys found";
    get_misses: GET_MISSES = "get_misses", "keys not found";
    get_expired: GET_EXPIRED = "get_expired", "keys not found because they had expired";
    delete_hits: DELETE_HITS = "delete_hits", "deletes of keys that were there";
    delete_misses: DELETE_MISSES = "delete_misses", "deletes of keys that were not there";
    incr_hits: INCR_HITS = "incr_hits", "increments of keys that were there";
    incr_misses: INCR_MISSES = "incr_misses", "increments of keys that were not there";
    decr_hits: DECR_HITS = "decr_hits", "decrements of keys that were there";
    decr_misses: DECR_MISSES = "decr_misses", "decrements of keys that were not there";
    cas_hits: CAS_HITS = "cas_hits", "cas requests that stored";
    cas_misses: CAS_MISSES = "cas_misses", "cas requests for keys that were not there";
    cas_badval: CAS_BADVAL = "cas_badval", "cas requests whose CAS value did not match";
    touch_hits: TOUCH_HITS = "touch_hits", "touches of keys that were there";
    touch_misses: TOUCH_MISSES = "touch_misses", "touches of keys that were not there";
    store_too_large: STORE_TOO_LARGE = "store_too_large", "appends and prepends refused for exceeding the item size limit";
}

impl Counts {
    /// A key looked up, found or not; with `touch`, by `gat`/`gats`/`mg T`.
    pub(crate) fn hit(&mut self, hit: bool, touch: bool) {
        match hit {
            true => self.get_hits += 1,
            false => self.get_misses += 1,
        }
        match (touch, hit) {
            (false, _) => {}
            (true, true) => self.touch_hits += 1,
            (true, false) => self.touch_misses += 1,
        }
    }

    /// An `incr` (`increment`) or `decr`, found or not.
    pub(crate) fn arithmetic(&mut self, increment: bool, hit: bool) {
        match (increment, hit) {
            (true, true) => self.incr_hits += 1,
            (true, false) => self.incr_misses += 1,
            (false, true) => self.decr_hits += 1,
            (false, false) => self.decr_misses += 1,
        }
    }
}

/// Store failures are rare and counted as they happen.
#[metric(name = "store_errors", description = "requests answered SERVER_ERROR because the store failed")]
pub(crate) static STORE_ERRORS: Counter = Counter::new();

#[metric(
    name = "commit_errors",
    description = "rounds whose commit failed: each write of the round was answered SERVER_ERROR with the store's reason"
)]
pub(crate) static COMMIT_ERRORS: Counter = Counter::new();

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
pub(super) struct Latencies {
    pub(super) get: LatencyShard,
    pub(super) set: LatencyShard,
    pub(super) delete: LatencyShard,
    pub(super) arithmetic: LatencyShard,
    pub(super) touch: LatencyShard,
}

impl Latencies {
    pub(super) fn new() -> Self {
        Self {
            get: GET_LATENCY.shard(),
            set: SET_LATENCY.shard(),
            delete: DELETE_LATENCY.shard(),
            arithmetic: ARITHMETIC_LATENCY.shard(),
            touch: TOUCH_LATENCY.shard(),
        }
    }
}
