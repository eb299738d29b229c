//! The behaviour every [`Storage`] must show, as exact memcached replies.
//!
//! [`run_all`] drives a fresh store per case through the real parser,
//! [`MemcacheService`] and composer, and compares the bytes that would go to
//! the client. The in-memory reference store and the RocksDB store both run
//! it, so they cannot drift apart.
//!
//! A dev-dependency only: release builds do not contain it.
//!
//! ```
//! petrel_memcache_conformance::run_all(petrel_memcache_service::MemoryStorage::new);
//! ```

use std::sync::Arc;

use petrel_metrics::ServerInfo;
use petrel_protocol::{Executed, ParseError, Protocol, Recovery, Service, Streamed};

use petrel_memcache_service::{Clock, MemcacheService, Storage, Watchers, unix_now};
use petrel_protocol_memcache::{ConnectionState, Limits, Memcache};

mod binary;
mod meta;
mod text;

use binary::{binary_counters, binary_stores_and_cas, binary_too_large, protocols_share_items};
use meta::{meta_arithmetic, meta_debug, meta_delete, meta_get_set, meta_quiet, meta_set_modes, meta_vivify};
use text::{
    add_replace, append_limit, append_prepend, binary_values, cas, concurrent_incr, delete_and_touch, expiry,
    failed_set_leaves_no_stale_value, flush_all, incr_decr, multi_get, noreply, set_get_gets, stats,
};

/// A service over one store, fed raw request bytes.
pub struct Harness<S: Storage> {
    /// The store, for checks below the protocol.
    pub storage: Arc<S>,
    /// The service's clock: it moves only when a case moves it.
    pub clock: Clock,
    service: MemcacheService<S>,
    protocol: Memcache,
    /// The text connection's state.
    state: ConnectionState,
    /// A second connection's, which speaks the binary protocol.
    binary_state: ConnectionState,
}

impl<S: Storage> Harness<S> {
    /// A harness over `storage`, with a 1 KiB value limit.
    pub fn new(storage: S) -> Self {
        let storage = Arc::new(storage);
        let limits = Limits { item_size_max: 1024, ..Limits::default() };
        let clock = Clock::manual(unix_now());
        let service = MemcacheService::new(
            storage.clone(),
            limits,
            Arc::new(ServerInfo::new("conformance", 1)),
            &Watchers::new(),
        )
        .with_clock(clock.clone());
        Self {
            storage,
            clock,
            service,
            protocol: Memcache::new(limits),
            state: ConnectionState::default(),
            binary_state: ConnectionState::default(),
        }
    }

    /// Serves every request in `input` as one round, committed at its end,
    /// and returns what the client receives.
    pub fn send(&mut self, input: &[u8]) -> String {
        let mut state = std::mem::take(&mut self.state);
        let out = self.serve(&mut state, input);
        self.state = state;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// [`send`](Self::send) over the binary connection: `input` is
    /// binary requests; returns the reply bytes.
    pub fn send_binary(&mut self, input: &[u8]) -> Vec<u8> {
        let mut state = std::mem::take(&mut self.binary_state);
        let out = self.serve(&mut state, input);
        self.binary_state = state;
        out
    }

    fn serve(&mut self, state: &mut ConnectionState, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            match self.protocol.parse(state, rest) {
                Ok(parsed) => {
                    let Executed { response, stream, .. } = self.service.execute(parsed.message);
                    self.protocol.compose(&response, &mut out);
                    // A reply too long for one part, composed whole.
                    if let Some(mut stream) = stream {
                        while self.service.compose_next(stream.as_mut(), &mut out) == Streamed::More {}
                    }
                    rest = &rest[parsed.consumed.min(rest.len())..];
                }
                Err(ParseError::Incomplete) => {
                    panic!("incomplete request: {:?}", String::from_utf8_lossy(rest))
                }
                Err(ParseError::Invalid { error, recovery }) => {
                    self.protocol.compose_error(&error, &mut out);
                    match recovery {
                        Recovery::Skip(count) => rest = &rest[(count as usize).min(rest.len())..],
                        Recovery::Close => break,
                    }
                }
            }
        }
        // The end of a round, as in the server.
        self.service.commit().expect("the store commits");
        out
    }

    /// Sends `input` and asserts the reply is exactly `expected`.
    #[track_caller]
    pub fn expect(&mut self, input: &str, expected: &str) {
        assert_eq!(self.send(input.as_bytes()), expected, "request {input:?}");
    }
}

/// A named conformance case.
pub type Case<S> = (&'static str, fn(&mut Harness<S>));

/// Every case, by name.
pub fn cases<S: Storage>() -> Vec<Case<S>> {
    vec![
        ("set_get_gets", set_get_gets),
        ("multi_get_keeps_request_order_and_skips_misses", multi_get),
        ("add_replace", add_replace),
        ("append_prepend_keep_flags", append_prepend),
        ("cas_hits_misses_and_conflicts", cas),
        ("incr_decr_wrap_floor_and_errors", incr_decr),
        ("delete_and_touch", delete_and_touch),
        ("expiry_relative_absolute_negative", expiry),
        ("noreply_suppresses_every_reply", noreply),
        ("flush_all_now_and_later", flush_all),
        ("values_are_binary_safe", binary_values),
        ("append_beyond_limit_is_refused", append_limit),
        ("failed_set_leaves_no_stale_value", failed_set_leaves_no_stale_value),
        ("meta_get_set_flags", meta_get_set),
        ("meta_quiet_mode_and_noop", meta_quiet),
        ("meta_set_modes_and_cas", meta_set_modes),
        ("meta_delete_and_invalidate", meta_delete),
        ("meta_vivify_and_recache", meta_vivify),
        ("meta_arithmetic", meta_arithmetic),
        ("meta_debug_and_base64_keys", meta_debug),
        ("stats_groups", stats),
        ("binary_and_text_share_items", protocols_share_items),
        ("binary_stores_quiet_and_cas", binary_stores_and_cas),
        ("binary_counters_created_or_not", binary_counters),
        ("binary_value_over_the_limit_is_skipped", binary_too_large),
        ("concurrent_incr_loses_no_update", concurrent_incr),
    ]
}

/// Runs every case, each on a fresh store from `make`; a failure names the case.
pub fn run_all<S: Storage>(make: impl Fn() -> S) {
    for (name, case) in cases::<S>() {
        let mut harness = Harness::new(make());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut harness)));
        if let Err(panic) = result {
            eprintln!("conformance case {name} failed");
            std::panic::resume_unwind(panic);
        }
    }
}

/// The CAS value of `key`, read with `gets`.
fn cas_of<S: Storage>(h: &mut Harness<S>, key: &str) -> u64 {
    let reply = h.send(format!("gets {key}\r\n").as_bytes());
    reply.split_whitespace().nth(4).unwrap().parse().unwrap()
}
