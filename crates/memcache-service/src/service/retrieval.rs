//! Retrievals (`get`, `gets`, `gat`, `gats`, and the binary Get and GAT):
//! one counted fetch per key, and responses composed in bounded parts.
//!
//! A line of thousands of keys, each naming a large item, would otherwise
//! have the whole reply held twice over (here and in the session's write
//! buffer) before a byte of it leaves. Instead a retrieval serves keys until
//! its values pass [`RESPONSE_PART`]; the keys left become a
//! [`RestOfRetrieval`], which the session asks this service to go on with
//! (`compose_next`) only when its write buffer has room: as memcached
//! streams a multiget's items as the socket drains, so memory per
//! connection stays bounded by the write buffer's limit plus one part.

use memchr::memchr;
use petrel_metrics::Timer;
use petrel_protocol::{ResponseStream, Streamed};

use super::{Executor, Scratch, store_failed};
use crate::expiry::Expiry;
use crate::store::{FetchRequest, Fetched, Storage, StorageError};
use petrel_protocol_memcache::{Hit, Keys, Response};

/// Bytes of keys and values past which a retrieval's reply is composed and
/// the keys left wait for the client to read it.
pub const RESPONSE_PART: usize = 64 << 10;

/// The keys of a retrieval left after the parts composed so far.
pub(crate) struct RestOfRetrieval {
    /// The keys, as sent (separated by spaces).
    keys: Vec<u8>,
    /// Bytes of `keys` already served.
    served: usize,
    retrieval: Retrieval,
}

/// What a retrieval asks, whatever its keys.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retrieval {
    /// `gat`'s expiration time; `None` for `get`.
    pub(super) touch: Option<i64>,
    /// Whether CAS values are shown (`gets`, `gats`).
    pub(super) cas: bool,
    /// Whether the reply ends with `END` (not for a piece of a line still
    /// arriving).
    pub(super) last: bool,
}

impl<S: Storage> Executor<S> {
    /// Serves a retrieval's keys, the first part now and the rest (see
    /// [`RestOfRetrieval`]) as the client reads.
    pub(super) fn get<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        keys: Keys<'_>,
        retrieval: Retrieval,
    ) -> Response<'s> {
        let text = keys.as_text();
        let served = match self.fetch_part(scratch, text, retrieval) {
            Ok(served) => served,
            Err(error) => return store_failed(error),
        };
        let mut last = retrieval.last;
        if served < text.len() {
            let keys = text[served..].to_vec();
            self.unfinished = Some(Box::new(RestOfRetrieval { keys, served: 0, retrieval }));
            last = false;
        }
        Response::Values { hits: &scratch.hits, bytes: &scratch.bytes, cas: retrieval.cas, last }
    }

    /// Composes the next part of a retrieval into `out`.
    pub(super) fn compose_rest(
        &mut self,
        scratch: &mut Scratch,
        rest: &mut RestOfRetrieval,
        out: &mut Vec<u8>,
    ) -> Streamed {
        scratch.clear();
        let served = self.fetch_part(scratch, &rest.keys[rest.served..], rest.retrieval);
        let retrieval = rest.retrieval;
        let (done, error) = match served {
            Ok(served) => {
                rest.served += served;
                (rest.served == rest.keys.len(), None)
            }
            Err(error) => (true, Some(store_failed(error))),
        };
        let last = done && retrieval.last && error.is_none();
        Response::Values { hits: &scratch.hits, bytes: &scratch.bytes, cas: retrieval.cas, last }
            .compose(out);
        if let Some(error) = error {
            error.compose(out);
        }
        if done { Streamed::Complete } else { Streamed::More }
    }

    /// Fetches the keys of `text` (space-separated) into the scratch
    /// buffer, until their keys and values pass [`RESPONSE_PART`]; returns
    /// how many bytes of `text` were served.
    fn fetch_part(
        &mut self,
        scratch: &mut Scratch,
        text: &[u8],
        retrieval: Retrieval,
    ) -> Result<usize, StorageError> {
        let _timer = Timer::start(self.latencies.get.histogram());
        let now = self.clock.now();
        let fetch = FetchRequest {
            touch: retrieval.touch.map(|exptime| Expiry::from_exptime(exptime, now)),
            ..FetchRequest::default()
        };
        let mut position = 0;
        while position < text.len() && scratch.bytes.len() < RESPONSE_PART {
            let end = memchr(b' ', &text[position..]).map_or(text.len(), |space| position + space);
            let key = &text[position..end];
            position = (end + 1).min(text.len());
            if key.is_empty() {
                continue;
            }
            if let Some(hit) = self.fetch_counted(scratch, key, fetch, now)? {
                scratch.hits.push(hit);
            }
        }
        Ok(position)
    }

    /// Fetches one key, counted as memcached counts a `get` (or `gat`):
    /// the one fetch path of text and binary retrievals. On a hit, the key
    /// and value go to the scratch buffer, and the [`Hit`] says where.
    pub(super) fn fetch_counted(
        &mut self,
        scratch: &mut Scratch,
        key: &[u8],
        fetch: FetchRequest,
        now: u64,
    ) -> Result<Option<Hit>, StorageError> {
        let touch = fetch.touch.is_some();
        self.counts.cmd_get += 1;
        if touch {
            self.counts.cmd_touch += 1;
        }
        let key_range = scratch.push(key);
        let value_start = scratch.bytes.len();
        match self.storage.fetch(&mut self.worker, key, fetch, Some(&mut scratch.bytes), now)? {
            Fetched::Hit(found) => {
                self.counts.hit(true, touch);
                let value = value_start..scratch.bytes.len();
                self.log_fetch(key, Some(value.len()));
                Ok(Some(Hit { key: key_range, value, flags: found.info.flags, cas: found.info.cas }))
            }
            Fetched::Miss { expired } => {
                self.counts.hit(false, touch);
                self.log_fetch(key, None);
                if expired {
                    self.counts.get_expired += 1;
                }
                scratch.bytes.truncate(key_range.start);
                Ok(None)
            }
        }
    }
}

impl ResponseStream for RestOfRetrieval {
    /// Only the service that began a retrieval can go on with it (it holds
    /// the store); driven alone, the reply ends with an error rather than
    /// leaving the client waiting.
    fn compose_next(&mut self, out: &mut Vec<u8>) -> Streamed {
        out.extend_from_slice(b"SERVER_ERROR retrieval cut short\r\n");
        Streamed::Complete
    }
}
