//! Executing memcache requests against a [`Storage`].
//!
//! The service turns each request into one atomic storage operation and the
//! result into a [`Response`]. Keys and values for the response are copied
//! into the service's scratch buffers, which are reused from one request to
//! the next, so a steady load allocates nothing.

use std::ops::Range;
use std::sync::Arc;

use metriken::{AtomicCounterHistogram, Counter, metric};
use petrel_metrics::{ServerInfo, Timer, latency_histogram};
use petrel_protocol::Service;

use crate::key::Key;
use crate::meta::{ArithmeticMode, MetaFlags};
use crate::request::{Limits, Request, StoreCommand};
use crate::response::{Hit, MetaCode, Response, ReturnFlag};
use crate::store::{
    Arithmetic, Counted, Delete, Deleted, Expiry, Fetch, Fetched, Found, Storage, Store, StoreError,
    StoreMode, Stored, unix_now,
};
use crate::{Error, Memcache};

macro_rules! counters {
    ($($name:ident = $text:literal, $description:literal;)*) => {
        $(
            #[metric(name = $text, description = $description)]
            static $name: Counter = Counter::new();
        )*
    };
}

counters! {
    CMD_GET = "cmd_get", "keys looked up by get, gets, gat, gats and mg";
    CMD_SET = "cmd_set", "storage requests (set, add, replace, append, prepend, cas, ms)";
    CMD_FLUSH = "cmd_flush", "flush_all requests";
    CMD_TOUCH = "cmd_touch", "touch, gat and gats requests";
    GET_HITS = "get_hits", "keys found";
    GET_MISSES = "get_misses", "keys not found";
    GET_EXPIRED = "get_expired", "keys not found because they had expired";
    DELETE_HITS = "delete_hits", "deletes of keys that were there";
    DELETE_MISSES = "delete_misses", "deletes of keys that were not there";
    INCR_HITS = "incr_hits", "increments of keys that were there";
    INCR_MISSES = "incr_misses", "increments of keys that were not there";
    DECR_HITS = "decr_hits", "decrements of keys that were there";
    DECR_MISSES = "decr_misses", "decrements of keys that were not there";
    CAS_HITS = "cas_hits", "cas requests that stored";
    CAS_MISSES = "cas_misses", "cas requests for keys that were not there";
    CAS_BADVAL = "cas_badval", "cas requests whose CAS value did not match";
    TOUCH_HITS = "touch_hits", "touches of keys that were there";
    TOUCH_MISSES = "touch_misses", "touches of keys that were not there";
    STORE_TOO_LARGE = "store_too_large", "appends and prepends refused for exceeding the item size limit";
    STORE_ERRORS = "store_errors", "requests answered SERVER_ERROR because the store failed";
}

#[metric(name = "get_latency", description = "nanoseconds to serve a retrieval (get, gets, gat, gats, mg)")]
static GET_LATENCY: AtomicCounterHistogram = latency_histogram();
#[metric(name = "set_latency", description = "nanoseconds to serve a storage request (set ... cas, ms)")]
static SET_LATENCY: AtomicCounterHistogram = latency_histogram();
#[metric(name = "delete_latency", description = "nanoseconds to serve delete and md")]
static DELETE_LATENCY: AtomicCounterHistogram = latency_histogram();
#[metric(name = "arithmetic_latency", description = "nanoseconds to serve incr, decr and ma")]
static ARITHMETIC_LATENCY: AtomicCounterHistogram = latency_histogram();
#[metric(name = "touch_latency", description = "nanoseconds to serve touch")]
static TOUCH_LATENCY: AtomicCounterHistogram = latency_histogram();

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
}

impl<S: Storage> MemcacheService<S> {
    /// A service over `storage`, reporting `server` in `stats`.
    pub fn new(storage: Arc<S>, limits: Limits, server: Arc<ServerInfo>) -> Self {
        Self { worker: storage.worker(), storage, limits, server, scratch: Scratch::default() }
    }

    fn get<'k, 's>(
        &'s mut self,
        keys: impl Iterator<Item = &'k [u8]>,
        touch: Option<i64>,
        cas: bool,
        last: bool,
    ) -> Response<'s> {
        let _timer = Timer::start(&GET_LATENCY);
        let now = unix_now();
        let fetch =
            Fetch { touch: touch.map(|exptime| Expiry::from_exptime(exptime, now)), ..Fetch::default() };
        for key in keys {
            CMD_GET.increment();
            if touch.is_some() {
                CMD_TOUCH.increment();
            }
            let key_range = self.scratch.push(key);
            let value_start = self.scratch.bytes.len();
            match self.storage.fetch(&mut self.worker, key, fetch, Some(&mut self.scratch.bytes), now) {
                Ok(Fetched::Hit(found)) => {
                    count_hit(true, touch.is_some());
                    let value = value_start..self.scratch.bytes.len();
                    self.scratch.hits.push(Hit {
                        key: key_range,
                        value,
                        flags: found.info.flags,
                        cas: found.info.cas,
                    });
                }
                Ok(Fetched::Miss { expired }) => {
                    count_hit(false, touch.is_some());
                    if expired {
                        GET_EXPIRED.increment();
                    }
                    self.scratch.bytes.truncate(key_range.start);
                }
                Err(error) => return store_failed(error),
            }
        }
        Response::Values { hits: &self.scratch.hits, bytes: &self.scratch.bytes, cas, last }
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        command: StoreCommand,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
        cas: u64,
        noreply: bool,
    ) -> Response<'static> {
        let _timer = Timer::start(&SET_LATENCY);
        CMD_SET.increment();
        let now = unix_now();
        let mode = match command {
            StoreCommand::Set | StoreCommand::Cas => StoreMode::Set,
            StoreCommand::Add => StoreMode::Add,
            StoreCommand::Replace => StoreMode::Replace,
            StoreCommand::Append => StoreMode::Append,
            StoreCommand::Prepend => StoreMode::Prepend,
        };
        let request = Store {
            mode,
            flags,
            expiry: Expiry::from_exptime(exptime, now),
            compare_cas: (command == StoreCommand::Cas).then_some(cas),
            invalidate: false,
            new_cas: None,
            vivify: None,
            max_size: self.limits.max_value(key.len()),
        };
        let response = match self.storage.store(&mut self.worker, key, value, request, now) {
            Ok(Stored::Stored { .. }) => {
                if command == StoreCommand::Cas {
                    CAS_HITS.increment();
                }
                Response::Stored
            }
            Ok(Stored::NotStored) => Response::NotStored,
            Ok(Stored::Exists) => {
                CAS_BADVAL.increment();
                Response::Exists
            }
            Ok(Stored::NotFound) => {
                CAS_MISSES.increment();
                Response::NotFound
            }
            Ok(Stored::TooLarge) => {
                STORE_TOO_LARGE.increment();
                Response::Error(Error::Server("out of memory storing object"))
            }
            Err(error) => {
                if command == StoreCommand::Set {
                    self.unlink_after_failed_set(key);
                }
                store_failed(error)
            }
        };
        quiet_if(noreply, response)
    }

    /// A value over the size limit, refused unread. As memcached, a `set`
    /// or `ms` that fails takes the old item with it, so that the
    /// application never reads the value it meant to replace.
    fn too_large(&mut self, key: Key<'_>, command: Option<StoreCommand>, noreply: bool) -> Response<'static> {
        STORE_TOO_LARGE.increment();
        if matches!(command, None | Some(StoreCommand::Set)) {
            self.unlink_after_failed_set(&key);
        }
        quiet_if(noreply, Response::Error(Error::TooLarge))
    }

    fn unlink_after_failed_set(&mut self, key: &[u8]) {
        if let Err(error) = self.storage.delete(&mut self.worker, key, Delete::default(), unix_now()) {
            log::warn!("a failed set could not remove the old value either: {error}");
        }
    }

    fn meta_get<'s>(&'s mut self, key: Key<'_>, flags: MetaFlags<'_>) -> Response<'s> {
        let _timer = Timer::start(&GET_LATENCY);
        CMD_GET.increment();
        let now = unix_now();
        let fetch = Fetch {
            touch: flags.ttl.map(|t| Expiry::from_exptime(t, now)),
            vivify: flags.vivify.map(|t| Expiry::from_exptime(t, now)),
            recache_below: flags.recache,
            new_cas: flags.new_cas,
            no_bump: flags.no_bump,
        };
        if fetch.touch.is_some() {
            CMD_TOUCH.increment();
        }
        let value_start = self.scratch.bytes.len();
        let fetched = self.storage.fetch(
            &mut self.worker,
            &key,
            fetch,
            flags.return_value.then_some(&mut self.scratch.bytes),
            now,
        );
        let found = match fetched {
            Ok(Fetched::Hit(found)) => {
                count_hit(true, fetch.touch.is_some());
                found
            }
            Ok(Fetched::Miss { expired }) => {
                count_hit(false, fetch.touch.is_some());
                if expired {
                    GET_EXPIRED.increment();
                }
                return quiet_if(
                    flags.quiet,
                    Response::Meta { code: MetaCode::Miss, flags: &[], value: None, bytes: &[] },
                );
            }
            Err(error) => return store_failed(error),
        };
        // C: when the CAS matches, the client has the value already.
        let send_value = flags.return_value && flags.compare_cas != Some(found.info.cas);
        let value = send_value.then_some(value_start..self.scratch.bytes.len());
        if !send_value {
            self.scratch.bytes.truncate(value_start);
        }
        self.return_flags(&key, &flags, Some(&found), now);
        let code = if value.is_some() { MetaCode::Value } else { MetaCode::Done };
        // q hides a miss only: a hit is always answered.
        Response::Meta { code, flags: &self.scratch.flags, value, bytes: &self.scratch.bytes }
    }

    fn meta_set<'s>(&'s mut self, key: Key<'_>, flags: MetaFlags<'_>, value: &[u8]) -> Response<'s> {
        let _timer = Timer::start(&SET_LATENCY);
        CMD_SET.increment();
        let now = unix_now();
        let request = Store {
            mode: flags.set_mode,
            flags: flags.client_flags.unwrap_or(0),
            expiry: Expiry::from_exptime(flags.ttl.unwrap_or(0), now),
            compare_cas: flags.compare_cas,
            invalidate: flags.invalidate,
            new_cas: flags.new_cas,
            vivify: flags.vivify.map(|t| Expiry::from_exptime(t, now)),
            max_size: self.limits.max_value(key.len()),
        };
        let (code, cas, size) = match self.storage.store(&mut self.worker, &key, value, request, now) {
            Ok(Stored::Stored { cas, size }) => (MetaCode::Done, cas, size),
            Ok(Stored::NotStored) => (MetaCode::NotStored, 0, 0),
            Ok(Stored::Exists) => (MetaCode::Exists, 0, 0),
            Ok(Stored::NotFound) => (MetaCode::NotFound, 0, 0),
            Ok(Stored::TooLarge) => {
                STORE_TOO_LARGE.increment();
                return Response::Error(Error::Server("out of memory storing object"));
            }
            Err(error) => {
                self.unlink_after_failed_set(&key);
                return store_failed(error);
            }
        };
        for flag in meta_flag_chars(&flags) {
            match flag {
                b'c' => self.scratch.flags.push(ReturnFlag::Cas(cas)),
                b'k' => self.push_key(&key),
                b'O' => self.push_opaque(&flags),
                b's' if code == MetaCode::Done => self.scratch.flags.push(ReturnFlag::Size(size)),
                _ => {}
            }
        }
        self.meta_reply(code, flags.quiet)
    }

    fn meta_delete<'s>(&'s mut self, key: Key<'_>, flags: MetaFlags<'_>) -> Response<'s> {
        let _timer = Timer::start(&DELETE_LATENCY);
        let now = unix_now();
        let request = Delete {
            compare_cas: flags.compare_cas,
            invalidate: flags.invalidate,
            touch: flags.ttl.map(|t| Expiry::from_exptime(t, now)),
            remove_value: flags.remove_value,
            new_cas: flags.new_cas,
        };
        let code = match self.storage.delete(&mut self.worker, &key, request, now) {
            Ok(Deleted::Deleted) => {
                DELETE_HITS.increment();
                MetaCode::Done
            }
            Ok(Deleted::NotFound) => {
                DELETE_MISSES.increment();
                MetaCode::NotFound
            }
            Ok(Deleted::Exists) => MetaCode::Exists,
            Err(error) => return store_failed(error),
        };
        self.return_flags(&key, &flags, None, now);
        self.meta_reply(code, flags.quiet)
    }

    fn meta_arithmetic<'s>(&'s mut self, key: Key<'_>, flags: MetaFlags<'_>) -> Response<'s> {
        let _timer = Timer::start(&ARITHMETIC_LATENCY);
        let now = unix_now();
        let increment = flags.arithmetic_mode == ArithmeticMode::Increment;
        let request = Arithmetic {
            increment,
            delta: flags.delta.unwrap_or(1),
            compare_cas: flags.compare_cas,
            new_cas: flags.new_cas,
            vivify: flags.vivify.map(|t| (flags.initial.unwrap_or(0), Expiry::from_exptime(t, now))),
            touch: flags.ttl.map(|t| Expiry::from_exptime(t, now)),
        };
        let (code, number, info) = match self.storage.arithmetic(&mut self.worker, &key, request, now) {
            Ok(Counted::Value(number, info)) => {
                count_arithmetic(increment, true);
                (MetaCode::Done, number, Some(info))
            }
            Ok(Counted::NotFound) => {
                count_arithmetic(increment, false);
                (MetaCode::NotFound, 0, None)
            }
            Ok(Counted::Exists) => (MetaCode::Exists, 0, None),
            Ok(Counted::NonNumeric) => return Response::Error(Error::NonNumeric),
            Err(error) => return store_failed(error),
        };
        let mut value = None;
        if let Some(info) = info {
            if flags.return_value {
                let start = self.scratch.bytes.len();
                crate::number::write_u64(&mut self.scratch.bytes, number);
                value = Some(start..self.scratch.bytes.len());
            }
            for flag in meta_flag_chars(&flags) {
                match flag {
                    b'c' => self.scratch.flags.push(ReturnFlag::Cas(info.cas)),
                    b't' => self.scratch.flags.push(ReturnFlag::Ttl(info.expiry.ttl(now))),
                    b'k' => self.push_key(&key),
                    b'O' => self.push_opaque(&flags),
                    _ => {}
                }
            }
        } else {
            self.return_flags(&key, &flags, None, now);
        }
        match value {
            // q hides a success, the value with it, as in memcached.
            Some(_) if flags.quiet => Response::Silent,
            Some(value) => Response::Meta {
                code: MetaCode::Value,
                flags: &self.scratch.flags,
                value: Some(value),
                bytes: &self.scratch.bytes,
            },
            None => self.meta_reply(code, flags.quiet),
        }
    }

    fn meta_debug<'s>(&'s mut self, key: Key<'_>) -> Response<'s> {
        let now = unix_now();
        let fetch = Fetch { no_bump: true, ..Fetch::default() };
        match self.storage.fetch(&mut self.worker, &key, fetch, None, now) {
            Ok(Fetched::Hit(found)) => {
                let out = &mut self.scratch.bytes;
                if key.is_base64() {
                    crate::key::encode_base64(&key, out);
                } else {
                    out.extend_from_slice(&key);
                }
                let exp = found.info.expiry.ttl(now);
                let text = format!(
                    " exp={exp} la={} cas={} fetch={} cls=1 size={}",
                    found.idle_seconds,
                    found.info.cas,
                    if found.fetched_before { "yes" } else { "no" },
                    found.info.size + key.len() as u64
                );
                out.extend_from_slice(text.as_bytes());
                Response::MetaDebug(&self.scratch.bytes)
            }
            Ok(Fetched::Miss { .. }) => {
                Response::Meta { code: MetaCode::Miss, flags: &[], value: None, bytes: &[] }
            }
            Err(error) => store_failed(error),
        }
    }

    /// The return flags common to mg, md and misses: in request order.
    fn return_flags(&mut self, key: &Key<'_>, flags: &MetaFlags<'_>, found: Option<&Found>, now: u64) {
        for flag in meta_flag_chars(flags) {
            match (flag, found) {
                (b'k', _) => self.push_key(key),
                (b'O', _) => self.push_opaque(flags),
                (b'c', Some(found)) => self.scratch.flags.push(ReturnFlag::Cas(found.info.cas)),
                (b'f', Some(found)) => self.scratch.flags.push(ReturnFlag::Flags(found.info.flags)),
                (b'h', Some(found)) => self.scratch.flags.push(ReturnFlag::Hit(found.fetched_before)),
                (b'l', Some(found)) => self.scratch.flags.push(ReturnFlag::LastAccess(found.idle_seconds)),
                (b's', Some(found)) => self.scratch.flags.push(ReturnFlag::Size(found.info.size)),
                (b't', Some(found)) => self.scratch.flags.push(ReturnFlag::Ttl(found.info.expiry.ttl(now))),
                _ => {}
            }
        }
        if let Some(found) = found {
            if found.won {
                self.scratch.flags.push(ReturnFlag::Won);
            }
            if found.stale {
                self.scratch.flags.push(ReturnFlag::Stale);
            }
            if found.already_won {
                self.scratch.flags.push(ReturnFlag::AlreadyWon);
            }
        }
    }

    /// `k<key>`, and for a base64 key `b` right after it, where memcached
    /// writes it.
    fn push_key(&mut self, key: &Key<'_>) {
        let range = self.scratch.push(key);
        self.scratch.flags.push(ReturnFlag::Key(range, key.is_base64()));
        if key.is_base64() {
            self.scratch.flags.push(ReturnFlag::Base64);
        }
    }

    fn push_opaque(&mut self, flags: &MetaFlags<'_>) {
        if let Some(opaque) = flags.opaque {
            let range = self.scratch.push(opaque);
            self.scratch.flags.push(ReturnFlag::Opaque(range));
        }
    }

    /// `HD` is hidden in quiet mode; every other code is sent.
    fn meta_reply(&self, code: MetaCode, quiet: bool) -> Response<'_> {
        if quiet && code == MetaCode::Done {
            return Response::Silent;
        }
        Response::Meta { code, flags: &self.scratch.flags, value: None, bytes: &self.scratch.bytes }
    }

    fn stats(&mut self, group: Option<&[u8]>, argument: Option<&[u8]>) -> Response<'_> {
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
            // Per-prefix accounting is never on, so its dump is empty.
            (Some(b"detail"), Some(b"dump")) => {}
            (Some(b"detail"), argument) if argument != Some(b"on") && argument != Some(b"off") => {
                return Response::Error(Error::DetailUsage);
            }
            // Slab, item-class and connection dumps describe memcached's
            // allocator; Petrel has none of that to report.
            (Some(b"items" | b"slabs" | b"sizes" | b"conns"), _) => {}
            _ => return Response::Error(Error::UnknownCommand),
        }
        Response::Stats(&self.scratch.bytes)
    }
}

impl<S: Storage> Service<Memcache> for MemcacheService<S> {
    fn execute<'s>(&'s mut self, request: Request<'_>) -> Response<'s> {
        self.scratch.clear();
        match request {
            Request::Get { keys, cas, last } => self.get(keys.iter(), None, cas, last),
            Request::GetAndTouch { exptime, keys, cas, last } => {
                self.get(keys.iter(), Some(exptime), cas, last)
            }
            Request::TooLarge { key, command, noreply } => self.too_large(key, command, noreply),
            Request::Store { command, key, flags, exptime, value, cas, noreply } => {
                petrel_logger::klog!("{} {} {}", command.name(), String::from_utf8_lossy(key), value.len());
                self.store(command, key, flags, exptime, value, cas, noreply)
            }
            Request::Delete { key, noreply } => {
                let _timer = Timer::start(&DELETE_LATENCY);
                let response = match self.storage.delete(&mut self.worker, key, Delete::default(), unix_now())
                {
                    Ok(Deleted::Deleted) => {
                        DELETE_HITS.increment();
                        Response::Deleted
                    }
                    Ok(_) => {
                        DELETE_MISSES.increment();
                        Response::NotFound
                    }
                    Err(error) => store_failed(error),
                };
                quiet_if(noreply, response)
            }
            Request::Arithmetic { key, delta, increment, noreply } => {
                let _timer = Timer::start(&ARITHMETIC_LATENCY);
                let request = Arithmetic {
                    increment,
                    delta,
                    compare_cas: None,
                    new_cas: None,
                    vivify: None,
                    touch: None,
                };
                let response = match self.storage.arithmetic(&mut self.worker, key, request, unix_now()) {
                    Ok(Counted::Value(value, _)) => {
                        count_arithmetic(increment, true);
                        Response::Number(value)
                    }
                    Ok(Counted::NotFound | Counted::Exists) => {
                        count_arithmetic(increment, false);
                        Response::NotFound
                    }
                    Ok(Counted::NonNumeric) => Response::Error(Error::NonNumeric),
                    Err(error) => store_failed(error),
                };
                quiet_if(noreply, response)
            }
            Request::Touch { key, exptime, noreply } => {
                let _timer = Timer::start(&TOUCH_LATENCY);
                CMD_TOUCH.increment();
                let now = unix_now();
                let fetch = Fetch { touch: Some(Expiry::from_exptime(exptime, now)), ..Fetch::default() };
                let response = match self.storage.fetch(&mut self.worker, key, fetch, None, now) {
                    Ok(Fetched::Hit(_)) => {
                        TOUCH_HITS.increment();
                        Response::Touched
                    }
                    Ok(Fetched::Miss { .. }) => {
                        TOUCH_MISSES.increment();
                        Response::NotFound
                    }
                    Err(error) => store_failed(error),
                };
                quiet_if(noreply, response)
            }
            Request::FlushAll { delay, noreply } => {
                CMD_FLUSH.increment();
                let now = unix_now();
                // memcached's `oldest_live` is the flush time less a second,
                // and takes effect once reached: a delay of 1 is now, one of
                // 2 a second from now.
                let at = match Expiry::from_exptime(delay, now) {
                    Expiry::At(at) if delay > 1 => at.saturating_sub(1).max(now),
                    _ => now,
                };
                let response = match self.storage.flush_all(&mut self.worker, at, now) {
                    Ok(()) => Response::Ok,
                    Err(error) => store_failed(error),
                };
                quiet_if(noreply, response)
            }
            Request::Version => Response::Version(&self.server.version),
            Request::Verbosity { noreply, .. } => quiet_if(noreply, Response::Ok),
            Request::Stats { group, argument } => self.stats(group, argument),
            Request::Quit => Response::Quit,
            Request::MetaGet { key, flags } => self.meta_get(key, flags),
            Request::MetaSet { key, flags, value } => self.meta_set(key, flags, value),
            Request::MetaDelete { key, flags } => self.meta_delete(key, flags),
            Request::MetaArithmetic { key, flags } => self.meta_arithmetic(key, flags),
            Request::MetaDebug { key, .. } => self.meta_debug(key),
            Request::MetaNoop => Response::Meta { code: MetaCode::Noop, flags: &[], value: None, bytes: &[] },
        }
    }

    fn commit(&mut self) -> std::io::Result<()> {
        self.storage.commit(&mut self.worker).map_err(|error| {
            STORE_ERRORS.increment();
            std::io::Error::other(error.to_string())
        })
    }
}

/// The flag characters of a meta request, in the order given.
fn meta_flag_chars<'a>(flags: &MetaFlags<'a>) -> impl Iterator<Item = u8> + 'a {
    crate::meta::tokens(flags.text).map(|token| token[0])
}

fn count_hit(hit: bool, touch: bool) {
    match (hit, touch) {
        (true, false) => GET_HITS.increment(),
        (false, false) => GET_MISSES.increment(),
        (true, true) => {
            GET_HITS.increment();
            TOUCH_HITS.increment()
        }
        (false, true) => {
            GET_MISSES.increment();
            TOUCH_MISSES.increment()
        }
    };
}

fn count_arithmetic(increment: bool, hit: bool) {
    match (increment, hit) {
        (true, true) => INCR_HITS.increment(),
        (true, false) => INCR_MISSES.increment(),
        (false, true) => DECR_HITS.increment(),
        (false, false) => DECR_MISSES.increment(),
    };
}

/// `noreply` silences every reply of a text command, errors included, as in
/// memcached: a stray error line would be read as the reply to the
/// client's next command.
fn quiet_if(noreply: bool, response: Response<'_>) -> Response<'_> {
    if noreply { Response::Silent } else { response }
}

fn store_failed(error: StoreError) -> Response<'static> {
    STORE_ERRORS.increment();
    log::warn!("store failed: {error}");
    Response::Error(Error::Server(error.reply))
}
