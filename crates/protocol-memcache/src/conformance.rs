//! The behaviour every [`Storage`] must show, as exact memcached replies.
//!
//! [`run_all`] drives a fresh store per case through the real parser,
//! [`MemcacheService`] and composer, and compares the bytes that would go to
//! the client. The in-memory reference store and the RocksDB store both run
//! it, so they cannot drift apart.
//!
//! ```
//! petrel_protocol_memcache::conformance::run_all(petrel_protocol_memcache::MemoryStorage::new);
//! ```

use std::sync::Arc;

use petrel_metrics::ServerInfo;
use petrel_protocol::{ParseError, Protocol, Recovery, Service};

use crate::store::{
    Arithmetic, Counted, Expiry, Fetch, Fetched, Storage, Store, StoreMode, Stored, unix_now,
};
use crate::{Limits, Memcache, MemcacheService, TextState};

/// A service over one store, fed raw request bytes.
pub struct Harness<S: Storage> {
    /// The store, for checks below the protocol.
    pub storage: Arc<S>,
    service: MemcacheService<S>,
    protocol: Memcache,
    state: TextState,
}

impl<S: Storage> Harness<S> {
    /// A harness over `storage`, with a 1 KiB value limit.
    pub fn new(storage: S) -> Self {
        let storage = Arc::new(storage);
        let limits = Limits { item_size_max: 1024, ..Limits::default() };
        let service =
            MemcacheService::new(storage.clone(), limits, Arc::new(ServerInfo::new("conformance", 1)));
        Self { storage, service, protocol: Memcache { limits }, state: TextState::default() }
    }

    /// Serves every request in `input` and returns what the client receives.
    pub fn send(&mut self, input: &[u8]) -> String {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            match self.protocol.parse(&mut self.state, rest) {
                Ok(parsed) => {
                    let response = self.service.execute(parsed.message);
                    self.protocol.compose(&response, &mut out);
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
        String::from_utf8_lossy(&out).into_owned()
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

fn set_get_gets<S: Storage>(h: &mut Harness<S>) {
    h.expect("set k 42 0 5\r\nhello\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 42 5\r\nhello\r\nEND\r\n");
    let gets = h.send(b"gets k\r\n");
    let cas: u64 = gets.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert_eq!(gets, format!("VALUE k 42 5 {cas}\r\nhello\r\nEND\r\n"));
    h.expect("set k 7 0 0\r\n\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 7 0\r\n\r\nEND\r\n");
    h.expect("get missing\r\n", "END\r\n");
    h.expect("set big 4294967295 0 1\r\nx\r\n", "STORED\r\n");
    h.expect("get big\r\n", "VALUE big 4294967295 1\r\nx\r\nEND\r\n");
}

fn multi_get<S: Storage>(h: &mut Harness<S>) {
    h.expect("set a 1 0 1\r\nA\r\nset c 3 0 1\r\nC\r\n", "STORED\r\nSTORED\r\n");
    h.expect("get a b c a\r\n", "VALUE a 1 1\r\nA\r\nVALUE c 3 1\r\nC\r\nVALUE a 1 1\r\nA\r\nEND\r\n");
}

fn add_replace<S: Storage>(h: &mut Harness<S>) {
    h.expect("replace k 0 0 1\r\na\r\n", "NOT_STORED\r\n");
    h.expect("add k 0 0 1\r\na\r\n", "STORED\r\n");
    h.expect("add k 0 0 1\r\nb\r\n", "NOT_STORED\r\n");
    h.expect("replace k 5 0 1\r\nc\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 5 1\r\nc\r\nEND\r\n");
}

fn append_prepend<S: Storage>(h: &mut Harness<S>) {
    h.expect("append k 0 0 1\r\na\r\n", "NOT_STORED\r\n");
    h.expect("prepend k 0 0 1\r\na\r\n", "NOT_STORED\r\n");
    h.expect("set k 9 0 3\r\nmid\r\n", "STORED\r\n");
    h.expect("append k 1 0 4\r\n-end\r\n", "STORED\r\n");
    h.expect("prepend k 2 0 6\r\nstart-\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 9 13\r\nstart-mid-end\r\nEND\r\n");
}

fn cas_of<S: Storage>(h: &mut Harness<S>, key: &str) -> u64 {
    let reply = h.send(format!("gets {key}\r\n").as_bytes());
    reply.split_whitespace().nth(4).unwrap().parse().unwrap()
}

fn cas<S: Storage>(h: &mut Harness<S>) {
    h.expect("cas k 0 0 1 1\r\na\r\n", "NOT_FOUND\r\n");
    h.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
    let first = cas_of(h, "k");
    h.expect(&format!("cas k 3 0 1 {}\r\nb\r\n", first + 1000), "EXISTS\r\n");
    h.expect(&format!("cas k 3 0 1 {first}\r\nb\r\n"), "STORED\r\n");
    h.expect(&format!("cas k 3 0 1 {first}\r\nc\r\n"), "EXISTS\r\n");
    let second = cas_of(h, "k");
    assert!(second > first, "CAS values increase: {first} then {second}");
    h.expect("get k\r\n", "VALUE k 3 1\r\nb\r\nEND\r\n");
    h.expect("set other 0 0 1\r\nx\r\n", "STORED\r\n");
    assert_ne!(cas_of(h, "other"), second, "CAS values are unique");
}

fn incr_decr<S: Storage>(h: &mut Harness<S>) {
    h.expect("incr n 1\r\n", "NOT_FOUND\r\n");
    h.expect("decr n 1\r\n", "NOT_FOUND\r\n");
    h.expect("set n 5 0 2\r\n10\r\n", "STORED\r\n");
    h.expect("incr n 5\r\n", "15\r\n");
    h.expect("decr n 1\r\n", "14\r\n");
    h.expect("decr n 100\r\n", "0\r\n");
    // As memcached: a shorter result is written over the old value, padded.
    h.expect("get n\r\n", "VALUE n 5 2\r\n0 \r\nEND\r\n");
    h.expect("set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n");
    h.expect("incr n 1\r\n", "0\r\n");
    h.expect("incr n 18446744073709551615\r\n", "18446744073709551615\r\n");
    h.expect("incr n 2\r\n", "1\r\n");
    h.expect("set word 0 0 3\r\nabc\r\n", "STORED\r\n");
    h.expect("incr word 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    h.expect("set big 0 0 20\r\n18446744073709551616\r\n", "STORED\r\n");
    h.expect("incr big 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    h.expect("incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
}

fn delete_and_touch<S: Storage>(h: &mut Harness<S>) {
    h.expect("delete k\r\n", "NOT_FOUND\r\n");
    h.expect("touch k 10\r\n", "NOT_FOUND\r\n");
    h.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
    h.expect("touch k 100\r\n", "TOUCHED\r\n");
    h.expect("mg k t\r\n", "HD t100\r\n");
    h.expect("touch k -1\r\n", "TOUCHED\r\n");
    h.expect("get k\r\n", "END\r\n");
    h.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
    h.expect("delete k\r\n", "DELETED\r\n");
    h.expect("get k\r\n", "END\r\n");
}

fn expiry<S: Storage>(h: &mut Harness<S>) {
    let now = unix_now();
    h.expect("set neg 0 -1 1\r\na\r\n", "STORED\r\n");
    h.expect("get neg\r\n", "END\r\n");
    h.expect(&format!("set past 0 {} 1\r\na\r\n", now - 10), "STORED\r\n");
    h.expect("get past\r\n", "END\r\n");
    h.expect(&format!("set future 0 {} 1\r\na\r\n", now + 3600), "STORED\r\n");
    h.expect("get future\r\n", "VALUE future 0 1\r\na\r\nEND\r\n");
    h.expect("set relative 0 100 1\r\na\r\n", "STORED\r\n");
    h.expect("mg relative t\r\n", "HD t100\r\n");
    h.expect("gat -1 relative\r\n", "VALUE relative 0 1\r\na\r\nEND\r\n");
    h.expect("get relative\r\n", "END\r\n");
    // Below the protocol, with time passed in: an item is gone from its
    // expiry time on, and only then.
    h.storage
        .store(&mut h.storage.worker(), b"timed", b"v", Store::set(0, Expiry::At(now + 5), 1024), now)
        .unwrap();
    assert!(matches!(
        h.storage.fetch(&mut h.storage.worker(), b"timed", Fetch::default(), None, now + 4),
        Ok(Fetched::Hit(_))
    ));
    assert_eq!(
        h.storage.fetch(&mut h.storage.worker(), b"timed", Fetch::default(), None, now + 5),
        Ok(Fetched::Miss { expired: true })
    );
}

fn noreply<S: Storage>(h: &mut Harness<S>) {
    h.expect(
        "set k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\nappend k 0 0 1 noreply\r\nc\r\nget k\r\n",
        "VALUE k 0 2\r\nac\r\nEND\r\n",
    );
    h.expect(
        "set n 0 0 1\r\n1\r\nincr n 5 noreply\r\ndecr n 1 noreply\r\nget n\r\n",
        "STORED\r\nVALUE n 0 1\r\n5\r\nEND\r\n",
    );
    h.expect("touch k 10 noreply\r\ndelete k noreply\r\ndelete k noreply\r\nget k\r\n", "END\r\n");
    h.expect("flush_all noreply\r\nverbosity 1 noreply\r\nmn\r\n", "MN\r\n");
    // Errors too are silenced, as memcached silences them: a client that
    // asked for no reply would read a stray error as its next reply.
    h.expect("set k 0 0 1 noreply\r\nabc", "");
    h.expect("set w 0 0 1 noreply\r\nx\r\nincr w 1 noreply\r\nmn\r\n", "MN\r\n");
    h.expect("delete k 10 noreply\r\nverbosity noreply\r\ntouch k abc noreply\r\nmn\r\n", "MN\r\n");
    // A word where noreply may stand is no noreply: the error is sent.
    h.expect(
        "delete k noreply x\r\n",
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    );
}

fn flush_all<S: Storage>(h: &mut Harness<S>) {
    h.expect("set a 0 0 1\r\na\r\nset b 0 0 1\r\nb\r\n", "STORED\r\nSTORED\r\n");
    h.expect("flush_all\r\n", "OK\r\n");
    h.expect("get a b\r\n", "END\r\n");
    h.expect("set c 0 0 1\r\nc\r\n", "STORED\r\n");
    h.expect("get c\r\n", "VALUE c 0 1\r\nc\r\nEND\r\n");
    // A delayed flush: what exists at that moment goes, what comes later stays.
    h.expect("flush_all 100\r\n", "OK\r\n");
    h.expect("get c\r\n", "VALUE c 0 1\r\nc\r\nEND\r\n");
    let now = unix_now();
    let set = Store::set(0, Expiry::Never, 1024);
    h.storage.flush_all(&mut h.storage.worker(), now + 10, now).unwrap();
    h.storage.store(&mut h.storage.worker(), b"late", b"v", set, now + 11).unwrap();
    assert!(matches!(
        h.storage.fetch(&mut h.storage.worker(), b"c", Fetch::default(), None, now + 9),
        Ok(Fetched::Hit(_))
    ));
    assert!(matches!(
        h.storage.fetch(&mut h.storage.worker(), b"c", Fetch::default(), None, now + 10),
        Ok(Fetched::Miss { .. })
    ));
    assert!(matches!(
        h.storage.fetch(&mut h.storage.worker(), b"late", Fetch::default(), None, now + 12),
        Ok(Fetched::Hit(_))
    ));
    // A flush now replaces a pending one, as in memcached.
    h.storage.flush_all(&mut h.storage.worker(), now + 10, now).unwrap();
    h.storage.flush_all(&mut h.storage.worker(), now, now).unwrap();
    h.storage.store(&mut h.storage.worker(), b"kept", b"v", set, now + 1).unwrap();
    assert!(matches!(
        h.storage.fetch(&mut h.storage.worker(), b"kept", Fetch::default(), None, now + 11),
        Ok(Fetched::Hit(_))
    ));
}

fn binary_values<S: Storage>(h: &mut Harness<S>) {
    let mut input = b"set bin 0 0 6\r\n\r\n\0\xff\r\n\r\n".to_vec();
    input.extend_from_slice(b"get bin\r\n");
    let mut expected = b"STORED\r\nVALUE bin 0 6\r\n\r\n\0\xff\r\n\r\nEND\r\n".to_vec();
    expected.truncate(expected.len());
    assert_eq!(h.send(&input).into_bytes(), String::from_utf8_lossy(&expected).into_owned().into_bytes());
}

/// An item fits when key, value and memcached's item overhead fit
/// `item_size_max` (1024 here): 964 bytes of value under the key `k`.
fn append_limit<S: Storage>(h: &mut Harness<S>) {
    let value = "v".repeat(900);
    h.expect(&format!("set k 0 0 900\r\n{value}\r\n"), "STORED\r\n");
    h.expect(
        &format!("append k 0 0 100\r\n{}\r\nget k\r\n", "w".repeat(100)),
        &format!("SERVER_ERROR out of memory storing object\r\nVALUE k 0 900\r\n{value}\r\nEND\r\n"),
    );
    h.expect(&format!("append k 0 0 64\r\n{}\r\n", "w".repeat(64)), "STORED\r\n");
    // Too large for `add`: refused, the old item stays.
    h.expect(
        &format!("add k 0 0 965\r\n{}\r\nmg k s\r\n", "x".repeat(965)),
        "SERVER_ERROR object too large for cache\r\nHD s964\r\n",
    );
}

/// A `set` or `ms` that fails takes the old item with it, as in memcached:
/// the application must not read the value it meant to replace.
fn failed_set_leaves_no_stale_value<S: Storage>(h: &mut Harness<S>) {
    let large = "x".repeat(965);
    h.expect("set k 0 0 3\r\nMOO\r\n", "STORED\r\n");
    h.expect(
        &format!("set k 0 0 965\r\n{large}\r\nget k\r\n"),
        "SERVER_ERROR object too large for cache\r\nEND\r\n",
    );
    h.expect("set k 0 0 3\r\nMOO\r\n", "STORED\r\n");
    h.expect(&format!("set k 0 0 965 noreply\r\n{large}\r\nget k\r\n"), "END\r\n");
    h.expect("ms k 3\r\nMOO\r\n", "HD\r\n");
    h.expect(
        &format!("ms k 965 T0\r\n{large}\r\nmg k v\r\n"),
        "SERVER_ERROR object too large for cache\r\nEN\r\n",
    );
}

fn meta_get_set<S: Storage>(h: &mut Harness<S>) {
    h.expect("ms foo 3 T100 F9\r\nbar\r\n", "HD\r\n");
    let cas = cas_of(h, "foo");
    h.expect("mg foo v\r\n", "VA 3\r\nbar\r\n");
    h.expect("mg foo\r\n", "HD\r\n");
    h.expect("mg foo k v f t s c Oxyz\r\n", &format!("VA 3 kfoo f9 t100 s3 c{cas} Oxyz\r\nbar\r\n"));
    h.expect("mg foo Oabc t\r\n", "HD Oabc t100\r\n");
    h.expect("mg nope v\r\n", "EN\r\n");
    let reply = h.send(b"ms foo 3 c k s\r\nxyz\r\n");
    let new_cas = cas_of(h, "foo");
    assert_eq!(reply, format!("HD c{new_cas} kfoo s3\r\n"));
    assert!(new_cas > cas);
    h.expect("mg foo T0 t\r\n", "HD t-1\r\n");
    // C with the current CAS: the client has the value, so none is sent.
    h.expect(&format!("mg foo C{new_cas} v c\r\n"), &format!("HD c{new_cas}\r\n"));
    h.expect("mg foo h l u\r\n", "HD h1 l0\r\n");
}

fn meta_quiet<S: Storage>(h: &mut Harness<S>) {
    h.expect("mg a v q\r\nmg b v q\r\nmn\r\n", "MN\r\n");
    h.expect("ms a 1 q\r\nA\r\nmg a v q\r\nmn\r\n", "VA 1\r\nA\r\nMN\r\n");
    h.expect("ms a 1 ME q\r\nB\r\n", "NS\r\n");
    h.expect("md a q\r\nmd a q\r\nmn\r\n", "NF\r\nMN\r\n");
    h.expect("mg a Oop q k\r\nmn\r\n", "MN\r\n");
}

fn meta_set_modes<S: Storage>(h: &mut Harness<S>) {
    h.expect("ms k 1 MR\r\na\r\n", "NS\r\n");
    h.expect("ms k 1 ME\r\na\r\n", "HD\r\n");
    h.expect("ms k 1 ME\r\nb\r\n", "NS\r\n");
    h.expect("ms k 1 MA\r\nz\r\n", "HD\r\n");
    h.expect("ms k 1 MP\r\ny\r\n", "HD\r\n");
    h.expect("mg k v\r\n", "VA 3\r\nyaz\r\n");
    h.expect("ms k 1 MS F3\r\nq\r\n", "HD\r\n");
    h.expect("mg k v f\r\n", "VA 1 f3\r\nq\r\n");
    h.expect("ms new 1 MA\r\nx\r\n", "NS\r\n");
    h.expect("ms new 1 MA N100\r\nx\r\n", "HD\r\n");
    h.expect("mg new v t\r\n", "VA 1 t100\r\nx\r\n");
    let cas = cas_of(h, "k");
    h.expect(&format!("ms k 1 C{}\r\nw\r\n", cas + 1000), "EX\r\n");
    h.expect(&format!("ms k 1 C{cas}\r\nw\r\n"), "HD\r\n");
    h.expect("ms missing 1 C5\r\nw\r\n", "NF\r\n");
    h.expect("ms k 1 E777\r\ne\r\n", "HD\r\n");
    h.expect("mg k c\r\n", "HD c777\r\n");
    // I with an older CAS stores but marks the item stale.
    h.expect("ms k 1 I C5\r\ns\r\n", "HD\r\n");
    h.expect("mg k v\r\n", "VA 1 W X\r\ns\r\n");
}

fn meta_delete<S: Storage>(h: &mut Harness<S>) {
    h.expect("md k\r\n", "NF\r\n");
    h.expect("ms k 1\r\na\r\n", "HD\r\n");
    h.expect("md k C999999\r\n", "EX\r\n");
    h.expect("md k k Oq\r\n", "HD kk Oq\r\n");
    h.expect("mg k\r\n", "EN\r\n");
    // Invalidate: the item stays, stale, with a new CAS and TTL; the first
    // fetch wins the recache, the next is told someone already did.
    h.expect("ms k 1 T0\r\na\r\n", "HD\r\n");
    h.expect("md k I T30\r\n", "HD\r\n");
    h.expect("mg k v t\r\n", "VA 1 t30 W X\r\na\r\n");
    h.expect("mg k v\r\n", "VA 1 X Z\r\na\r\n");
    h.expect("ms k 1\r\nb\r\n", "HD\r\n");
    h.expect("mg k v\r\n", "VA 1\r\nb\r\n");
    // x: the value goes, the item stays.
    h.expect("ms k 3 F4\r\nabc\r\n", "HD\r\n");
    h.expect("md k x\r\n", "HD\r\n");
    h.expect("mg k v f\r\n", "VA 0 f4\r\n\r\n");
}

fn meta_vivify<S: Storage>(h: &mut Harness<S>) {
    h.expect("mg k v N30 t\r\n", "VA 0 t30 W\r\n\r\n");
    h.expect("mg k v N30\r\n", "VA 0 Z\r\n\r\n");
    h.expect("ms k 1 T100\r\nv\r\n", "HD\r\n");
    h.expect("mg k v N30\r\n", "VA 1\r\nv\r\n");
    // R: win the recache once the TTL falls below the token.
    h.expect("mg k R30 v\r\n", "VA 1\r\nv\r\n");
    h.expect("mg k R200 v\r\n", "VA 1 W\r\nv\r\n");
    h.expect("mg k R200 v\r\n", "VA 1 Z\r\nv\r\n");
}

fn meta_arithmetic<S: Storage>(h: &mut Harness<S>) {
    h.expect("ma n\r\n", "NF\r\n");
    h.expect("ma n N0 J10 v\r\n", "VA 2\r\n10\r\n");
    h.expect("ma n v\r\n", "VA 2\r\n11\r\n");
    h.expect("ma n D9 MD v\r\n", "VA 1\r\n2\r\n");
    h.expect("ma n M- D5 v t\r\n", "VA 1 t-1\r\n0\r\n");
    h.expect("ma n\r\n", "HD\r\n");
    h.expect("ma n q\r\nmn\r\n", "MN\r\n");
    // Shrunk in place to "2" and grown back: padded to the old length.
    h.expect("mg n v\r\n", "VA 2\r\n2 \r\n");
    let cas = cas_of(h, "n");
    h.expect(&format!("ma n C{}\r\n", cas + 1000), "EX\r\n");
    let reply = h.send(format!("ma n C{cas} c k\r\n").as_bytes());
    assert_eq!(reply, format!("HD c{} kn\r\n", cas_of(h, "n")));
    h.expect("ms w 1\r\nx\r\n", "HD\r\n");
    h.expect("ma w\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
}

fn meta_debug<S: Storage>(h: &mut Harness<S>) {
    h.expect("me k\r\n", "EN\r\n");
    h.expect("ms k 2 T0\r\nab\r\n", "HD\r\n");
    let reply = h.send(b"me k\r\n");
    assert!(reply.starts_with("ME k exp=-1 la=0 cas="), "{reply}");
    assert!(reply.ends_with(" fetch=no cls=1 size=3\r\n"), "{reply}");
    // Binary keys through base64, returned base64 with the b flag.
    h.expect("ms AAEC 1 b\r\nz\r\n", "HD\r\n");
    h.expect("mg AAEC b k v\r\n", "VA 1 kAAEC b\r\nz\r\n");
    h.expect("mg AAEC b v k\r\n", "VA 1 kAAEC b\r\nz\r\n");
    let reply = h.send(b"me AAEC b\r\n");
    assert!(reply.starts_with("ME AAEC exp=-1"), "{reply}");
}

fn stats<S: Storage>(h: &mut Harness<S>) {
    h.expect("set k 0 0 1\r\na\r\nget k\r\n", "STORED\r\nVALUE k 0 1\r\na\r\nEND\r\n");
    let stats = h.send(b"stats\r\n");
    for name in
        ["pid", "uptime", "time", "version", "threads", "cmd_get", "cmd_set", "get_hits", "curr_items"]
    {
        assert!(stats.contains(&format!("STAT {name} ")), "no {name} in {stats}");
    }
    assert!(stats.ends_with("END\r\n"));
    assert!(h.send(b"stats settings\r\n").contains("STAT item_size_max 1024\r\n"));
    h.expect("stats items\r\n", "END\r\n");
    h.expect("stats bogus\r\n", "ERROR\r\n");
    h.expect("stats reset\r\nstats detail dump\r\n", "RESET\r\nEND\r\n");
    h.expect("stats detail on\r\nstats cachedump 1 10\r\n", "ERROR\r\nERROR\r\n");
}

fn concurrent_incr<S: Storage>(h: &mut Harness<S>) {
    h.expect("set n 0 0 1\r\n0\r\n", "STORED\r\n");
    let storage = h.storage.clone();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let storage = &storage;
            scope.spawn(move || {
                let incr = Arithmetic {
                    increment: true,
                    delta: 1,
                    compare_cas: None,
                    new_cas: None,
                    vivify: None,
                    touch: None,
                };
                // Each thread a worker of its own, as in the server.
                let mut worker = storage.worker();
                for _ in 0..1000 {
                    let counted = storage.arithmetic(&mut worker, b"n", incr, unix_now());
                    assert!(matches!(counted, Ok(Counted::Value(..))));
                }
            });
        }
    });
    h.expect("get n\r\n", "VALUE n 0 4\r\n8000\r\nEND\r\n");
    // Racing adds: exactly one wins.
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let storage = &storage;
                scope.spawn(move || {
                    let add = Store { mode: StoreMode::Add, ..Store::set(0, Expiry::Never, 1024) };
                    let stored = storage.store(&mut storage.worker(), b"once", b"x", add, unix_now());
                    matches!(stored, Ok(Stored::Stored { .. })) as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
}
