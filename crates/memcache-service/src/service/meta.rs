//! The meta commands: `mg`, `ms`, `md`, `ma`, `me`, and the return flags
//! they answer with.

use petrel_metrics::Timer;

use super::{Executor, Scratch, quiet_if, store_failed};
use crate::expiry::Expiry;
use crate::store::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, Found, Storage, StoreRequest,
    Stored,
};
use petrel_protocol_memcache::{
    ArithmeticMode, Error, Key, MetaCode, MetaFlags, Response, Return, ReturnFlag,
};

impl<S: Storage> Executor<S> {
    pub(super) fn meta_get<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        key: Key<'_>,
        flags: MetaFlags<'_>,
    ) -> Response<'s> {
        let _timer = Timer::start(self.latencies.get.histogram());
        self.counts.cmd_get += 1;
        let now = self.clock.now();
        let fetch = FetchRequest {
            touch: flags.ttl.map(|t| Expiry::from_exptime(t, now)),
            vivify: flags.vivify.map(|t| Expiry::from_exptime(t, now)),
            recache_below: flags.recache,
            new_cas: flags.new_cas,
            no_bump: flags.no_bump,
        };
        if fetch.touch.is_some() {
            self.counts.cmd_touch += 1;
        }
        let value_start = scratch.bytes.len();
        let fetched = self.storage.fetch(
            &mut self.worker,
            &key,
            fetch,
            flags.return_value.then_some(&mut scratch.bytes),
            now,
        );
        let found = match fetched {
            Ok(Fetched::Hit(found)) => {
                self.counts.hit(true, fetch.touch.is_some());
                self.log_fetch(key.as_bytes(), Some(found.info.size as usize));
                found
            }
            Ok(Fetched::Miss { expired }) => {
                self.counts.hit(false, fetch.touch.is_some());
                self.log_fetch(key.as_bytes(), None);
                if expired {
                    self.counts.get_expired += 1;
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
        let value = send_value.then_some(value_start..scratch.bytes.len());
        if !send_value {
            scratch.bytes.truncate(value_start);
        }
        self.return_flags(scratch, &key, &flags, Some(&found), now);
        let code = if value.is_some() { MetaCode::Value } else { MetaCode::Done };
        // q hides a miss only: a hit is always answered.
        Response::Meta { code, flags: &scratch.flags, value, bytes: &scratch.bytes }
    }

    pub(super) fn meta_set<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        key: Key<'_>,
        flags: MetaFlags<'_>,
        value: &[u8],
    ) -> Response<'s> {
        let now = self.clock.now();
        let request = StoreRequest {
            mode: flags.set_mode,
            flags: flags.client_flags.unwrap_or(0),
            expiry: Expiry::from_exptime(flags.ttl.unwrap_or(0), now),
            compare_cas: flags.compare_cas,
            invalidate: flags.invalidate,
            new_cas: flags.new_cas,
            vivify: flags.vivify.map(|t| Expiry::from_exptime(t, now)),
            max_size: self.limits.max_value(key.len()),
        };
        let (code, cas, size) = match self.store_counted(&key, value, request, now) {
            Ok(Stored::Stored { cas, size }) => (MetaCode::Done, cas, size),
            Ok(Stored::NotStored) => (MetaCode::NotStored, 0, 0),
            Ok(Stored::Exists) => (MetaCode::Exists, 0, 0),
            Ok(Stored::NotFound) => (MetaCode::NotFound, 0, 0),
            Ok(Stored::TooLarge) => return Response::Error(Error::Server("out of memory storing object")),
            Err(error) => return store_failed(error),
        };
        for returned in flags.returns.iter() {
            match returned {
                Return::Cas => scratch.flags.push(ReturnFlag::Cas(cas)),
                Return::Key => push_key(scratch, &key),
                Return::Opaque => push_opaque(scratch, &flags),
                Return::Size if code == MetaCode::Done => scratch.flags.push(ReturnFlag::Size(size)),
                _ => {}
            }
        }
        meta_reply(scratch, code, flags.quiet)
    }

    pub(super) fn meta_delete<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        key: Key<'_>,
        flags: MetaFlags<'_>,
    ) -> Response<'s> {
        let now = self.clock.now();
        let request = DeleteRequest {
            compare_cas: flags.compare_cas,
            invalidate: flags.invalidate,
            touch: flags.ttl.map(|t| Expiry::from_exptime(t, now)),
            remove_value: flags.remove_value,
            new_cas: flags.new_cas,
        };
        let code = match self.delete_counted(&key, request) {
            Ok(Deleted::Deleted) => MetaCode::Done,
            Ok(Deleted::NotFound) => MetaCode::NotFound,
            Ok(Deleted::Exists) => MetaCode::Exists,
            Err(error) => return store_failed(error),
        };
        self.return_flags(scratch, &key, &flags, None, now);
        meta_reply(scratch, code, flags.quiet)
    }

    pub(super) fn meta_arithmetic<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        key: Key<'_>,
        flags: MetaFlags<'_>,
    ) -> Response<'s> {
        let now = self.clock.now();
        let increment = flags.arithmetic_mode == ArithmeticMode::Increment;
        let request = ArithmeticRequest {
            increment,
            delta: flags.delta.unwrap_or(1),
            compare_cas: flags.compare_cas,
            new_cas: flags.new_cas,
            vivify: flags.vivify.map(|t| (flags.initial.unwrap_or(0), Expiry::from_exptime(t, now))),
            touch: flags.ttl.map(|t| Expiry::from_exptime(t, now)),
        };
        let (code, number, info) = match self.arithmetic_counted(&key, request) {
            Ok(Counted::Value(number, info)) => (MetaCode::Done, number, Some(info)),
            Ok(Counted::NotFound) => (MetaCode::NotFound, 0, None),
            Ok(Counted::Exists) => (MetaCode::Exists, 0, None),
            Ok(Counted::NonNumeric) => return Response::Error(Error::NonNumeric),
            Err(error) => return store_failed(error),
        };
        let mut value = None;
        if let Some(info) = info {
            if flags.return_value {
                let start = scratch.bytes.len();
                petrel_protocol_memcache::number::write_u64(&mut scratch.bytes, number);
                value = Some(start..scratch.bytes.len());
            }
            for returned in flags.returns.iter() {
                match returned {
                    Return::Cas => scratch.flags.push(ReturnFlag::Cas(info.cas)),
                    Return::Ttl => scratch.flags.push(ReturnFlag::Ttl(info.expiry.ttl(now))),
                    Return::Key => push_key(scratch, &key),
                    Return::Opaque => push_opaque(scratch, &flags),
                    _ => {}
                }
            }
        } else {
            self.return_flags(scratch, &key, &flags, None, now);
        }
        match value {
            // q hides a success, the value with it, as in memcached.
            Some(_) if flags.quiet => Response::Silent,
            Some(value) => Response::Meta {
                code: MetaCode::Value,
                flags: &scratch.flags,
                value: Some(value),
                bytes: &scratch.bytes,
            },
            None => meta_reply(scratch, code, flags.quiet),
        }
    }

    pub(super) fn meta_debug<'s>(&mut self, scratch: &'s mut Scratch, key: Key<'_>) -> Response<'s> {
        let now = self.clock.now();
        let fetch = FetchRequest { no_bump: true, ..FetchRequest::default() };
        match self.storage.fetch(&mut self.worker, &key, fetch, None, now) {
            Ok(Fetched::Hit(found)) => {
                let out = &mut scratch.bytes;
                if key.is_base64() {
                    petrel_protocol_memcache::encode_base64(&key, out);
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
                Response::MetaDebug(&scratch.bytes)
            }
            Ok(Fetched::Miss { .. }) => {
                Response::Meta { code: MetaCode::Miss, flags: &[], value: None, bytes: &[] }
            }
            Err(error) => store_failed(error),
        }
    }

    /// The return flags common to mg, md and misses: in request order.
    fn return_flags(
        &self,
        scratch: &mut Scratch,
        key: &Key<'_>,
        flags: &MetaFlags<'_>,
        found: Option<&Found>,
        now: u64,
    ) {
        for returned in flags.returns.iter() {
            let flag = match (returned, found) {
                (Return::Key, _) => {
                    push_key(scratch, key);
                    continue;
                }
                (Return::Opaque, _) => {
                    push_opaque(scratch, flags);
                    continue;
                }
                (_, None) => continue,
                (Return::Cas, Some(found)) => ReturnFlag::Cas(found.info.cas),
                (Return::Flags, Some(found)) => ReturnFlag::Flags(found.info.flags),
                (Return::Hit, Some(found)) => ReturnFlag::Hit(found.fetched_before),
                (Return::LastAccess, Some(found)) => ReturnFlag::LastAccess(found.idle_seconds),
                (Return::Size, Some(found)) => ReturnFlag::Size(found.info.size),
                (Return::Ttl, Some(found)) => ReturnFlag::Ttl(found.info.expiry.ttl(now)),
            };
            scratch.flags.push(flag);
        }
        if let Some(found) = found {
            if found.won {
                scratch.flags.push(ReturnFlag::Won);
            }
            if found.stale {
                scratch.flags.push(ReturnFlag::Stale);
            }
            if found.already_won {
                scratch.flags.push(ReturnFlag::AlreadyWon);
            }
        }
    }
}

/// `k<key>`, and for a base64 key `b` right after it, where memcached
/// writes it.
fn push_key(scratch: &mut Scratch, key: &Key<'_>) {
    let range = scratch.push(key);
    scratch.flags.push(ReturnFlag::Key(range, key.is_base64()));
    if key.is_base64() {
        scratch.flags.push(ReturnFlag::Base64);
    }
}

fn push_opaque(scratch: &mut Scratch, flags: &MetaFlags<'_>) {
    if let Some(opaque) = flags.opaque {
        let range = scratch.push(opaque);
        scratch.flags.push(ReturnFlag::Opaque(range));
    }
}

/// `HD` is hidden in quiet mode; every other code is sent.
fn meta_reply(scratch: &Scratch, code: MetaCode, quiet: bool) -> Response<'_> {
    if quiet && code == MetaCode::Done {
        return Response::Silent;
    }
    Response::Meta { code, flags: &scratch.flags, value: None, bytes: &scratch.bytes }
}
